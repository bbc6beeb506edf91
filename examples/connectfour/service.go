package connectfour

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/shred"
	"github.com/google/uuid"
)

// Service is the application service of Connect Four: what a user
// interface calls to play. It runs the rules ([NewDecider]) against any
// [chronicle.Store] through a [chronicle.Repository], so every move is
// saved with optimistic concurrency. It is safe for concurrent use.
type Service struct {
	// store is what the service reads and writes through: a store over
	// the one it was given that decrypts the names it reads and appends
	// a game's names as the game's first event stored them.
	store  *gameStore
	secure *shred.Store // nil unless names are forgettable
	codec  *chronicle.Codec[Event]
	games  *chronicle.Repository[Game, Command, Event]
	read   *readModels // nil when the store cannot keep read models
}

// Option configures a [Service]. Of [WithForgettableNames] and
// [WithClearNames], the last given wins.
type Option func(*options)

type options struct{ names names }

// names is how a service stores the players' names.
type names int

const (
	clearNames       names = iota // in the clear; encrypted ones read as [shred.Encrypted]
	clearNamesKeyed               // in the clear; encrypted ones decrypted with the database's keys
	forgettableNames              // encrypted
)

// WithForgettableNames stores the players' names, the personal data of the
// game's events, encrypted with a key for each player (package shred), so
// that [Service.Forget] can erase a player's name from every game such a
// service started. The keys live in the store's own database when it has
// one (a [projection.DB]), and else in memory: there they end with the
// process, and the names it wrote read as "[forgotten]" in any other, so
// keep names in the clear on a lasting store without a database, such as
// the kurrent client's. Events written this way are no longer readable by
// the Python tutorial's code, which knows nothing of the encryption, nor
// by a service without the keys, where the names read as "[encrypted]",
// and which cannot move in such a game ([ErrNamesEncrypted]); events it
// wrote are read as they are. The moves made in a game that another
// service started with the names in the clear are stored in the clear too,
// as that game's first event stored them: forgetting leaves them.
func WithForgettableNames() Option { return func(o *options) { o.names = forgettableNames } }

// WithClearNames stores the players' names of the games it starts in the
// clear, as a service without options does and as the tutorial's code and
// EventStoreDB store them, so that every reader of the store reads those
// games. It reads decrypted the names that a service made
// [WithForgettableNames] stored encrypted in the same store, with their
// keys from the store's database (a [projection.DB]), so that its games
// show too, their names as "[forgotten]" once forgotten; and it stores the
// moves made in those games encrypted with the same keys, as their first
// event stored the names, so that forgetting a player erases them from the
// whole game. It suits a server that shares its store with both kinds of
// client, as "chronicle serve" does. It cannot forget names
// ([Service.Forget] gives [ErrNamesNotForgettable]): the other service
// forgets those that are encrypted, and the names stored in the clear
// stay. On a store without a database it is the same as no option.
func WithClearNames() Option { return func(o *options) { o.names = clearNamesKeyed } }

// NewService returns a service that keeps its games in store. Without an
// option the names are stored in the clear, and names that a service made
// [WithForgettableNames] stored encrypted read as "[encrypted]"
// ([shred.Encrypted]): this service has no keys for them, and refuses to
// move in such a game ([ErrNamesEncrypted]). Whatever the options, the
// moves made in a game store the names as its first event stored them. In
// a database where such a service wrote, give [WithClearNames] instead:
// the read models, which every service of the database shares, would keep
// "[encrypted]" for those names.
func NewService(store chronicle.Store, opts ...Option) *Service {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s := &Service{codec: NewCodec()}
	db, _ := store.(projection.DB)
	var keys shred.KeyStore // nil: encrypted names read as [shred.Encrypted]
	switch {
	case o.names == forgettableNames && db != nil, o.names == clearNamesKeyed && db != nil:
		keys = shred.NewSQLKeys(db)
	case o.names == forgettableNames:
		keys = shred.NewMemoryKeys()
	}
	seen := &firstEvents{Store: store}
	s.store = &gameStore{Store: shred.NewDecrypting(seen, keys, personalData()), seen: seen}
	if keys != nil {
		s.store.sealed = shred.New(seen, keys, personalData())
	}
	if o.names == forgettableNames {
		s.secure = s.store.sealed
		s.store.ownSealed = true
	}
	s.games = chronicle.NewRepository(s.store, s.codec, NewDecider(), nil)
	if db != nil {
		s.read = newReadModels(s.store, db)
	}
	return s
}

// Store returns the store the service reads and writes the games' events
// through: a store over the one given to [NewService] that reads the names
// decrypted (or as "[encrypted]" where it has no keys) and appends them as
// [Service.MakeMove] does: a new game's as its options say, the next
// events of a game as its first event stored them. Read the games through
// it, as a [projection.Runner] of [Projections] must to decode the events
// that a service made [WithForgettableNames] wrote; such a runner writes
// to the database of the store given, which it takes as its
// [projection.Options] DB.
func (s *Service) Store() chronicle.Store { return s.store }

// ErrNamesEncrypted means a move was asked of a service without keys (as
// over kurrentdb://, where there is no database to keep them) in a game
// whose players' names are stored encrypted: it reads them as
// "[encrypted]", and would store that as the player's name, in the
// clear, for good. Such a game is played where its keys are: on the
// database it was started in, with a service that reads from it.
var ErrNamesEncrypted = errors.New("the players' names in this game are stored encrypted, and this service has no keys to read them: play it on the database where it was started, which keeps the keys")

// gameStore is the store a [Service] reads and writes through. It reads
// the names decrypted with the service's keys, or as [shred.Encrypted]
// where it has none, and it appends the names of a game's new events as
// the game's first event stored them, whatever the service's options:
// encrypted where they were (a game that a service made
// WithForgettableNames started), so that forgetting a player erases
// every event that names them, and in the clear where they were, so that
// every reader of the game reads its moves too. A service without keys
// refuses to append to a game whose names are encrypted
// ([ErrNamesEncrypted]). A new game stores its names as the service's
// options say.
type gameStore struct {
	*shred.Store              // over seen: decrypts, and appends in the clear
	sealed       *shred.Store // over seen: appends encrypted; nil without keys
	ownSealed    bool         // new games store their names encrypted
	seen         *firstEvents // the store given to NewService
}

// Append implements [chronicle.Store.Append].
func (g *gameStore) Append(ctx context.Context, stream string, expected chronicle.ExpectedRevision, events ...chronicle.EventData) (chronicle.AppendResult, error) {
	if !slices.ContainsFunc(events, namesPlayers) {
		return g.Store.Append(ctx, stream, expected, events...)
	}
	sealed, err := g.namesSealed(ctx, stream, expected)
	switch {
	case err != nil:
		return chronicle.AppendResult{}, err
	case !sealed:
		return g.Store.Append(ctx, stream, expected, events...)
	case g.sealed == nil:
		return chronicle.AppendResult{}, ErrNamesEncrypted
	}
	return g.sealed.Append(ctx, stream, expected, events...)
}

// namesSealed reports whether the names of the events appended to stream
// at expected are to be encrypted. A game is loaded before every move,
// and the load noted how its first event stored the names: only an
// append without one, as through [Service.Store], reads that event.
func (g *gameStore) namesSealed(ctx context.Context, stream string, expected chronicle.ExpectedRevision) (bool, error) {
	if expected.IsNoStream() {
		return g.ownSealed, nil
	}
	if sealed, ok := g.seen.noted(stream); ok {
		return sealed, nil
	}
	for rec, err := range g.seen.ReadStream(ctx, stream, chronicle.ReadStreamOptions{Limit: 1}) {
		if errors.Is(err, chronicle.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return false, fmt.Errorf("append to %q: read how its names are stored: %w", stream, err)
		}
		return sealedNames(rec.Data), nil
	}
	return g.ownSealed, nil
}

// namesPlayers reports whether e holds players' names.
func namesPlayers(e chronicle.EventData) bool {
	return e.Type == TypeGameStarted || e.Type == TypeMoveMade
}

// sealedNames reports whether the data of an event stored its players'
// names encrypted: in package shred's form of an encrypted field, an
// object whose first key is "$shredded". A name in the clear cannot hold
// that text, whose quotes JSON escapes in a string.
func sealedNames(data []byte) bool { return bytes.Contains(data, []byte(`"$shredded"`)) }

// maxNoted is how many games' first events a [firstEvents] remembers.
// Past it, it forgets one for each new one: an append to a game forgotten
// between its load and the append reads its first event again.
const maxNoted = 4096

// firstEvents is the store given to [NewService], under the decryption:
// it notes, of every stream whose first event it reads, whether that
// event stored the names encrypted, so that a move, which loads the game
// first, knows how to store its names without another read.
type firstEvents struct {
	chronicle.Store
	mu     sync.Mutex
	sealed map[string]bool // by stream
}

// ReadStream implements [chronicle.Store.ReadStream].
func (f *firstEvents) ReadStream(ctx context.Context, stream string, opts chronicle.ReadStreamOptions) iter.Seq2[chronicle.RecordedEvent, error] {
	return func(yield func(chronicle.RecordedEvent, error) bool) {
		for rec, err := range f.Store.ReadStream(ctx, stream, opts) {
			if err == nil && rec.Revision == 0 {
				f.note(stream, sealedNames(rec.Data))
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

func (f *firstEvents) note(stream string, sealed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sealed == nil {
		f.sealed = make(map[string]bool)
	}
	if _, ok := f.sealed[stream]; !ok && len(f.sealed) >= maxNoted {
		for old := range f.sealed {
			delete(f.sealed, old)
			break
		}
	}
	f.sealed[stream] = sealed
}

func (f *firstEvents) noted(stream string) (sealed, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sealed, ok = f.sealed[stream]
	return sealed, ok
}

// personalData lists the personal fields of the game's events, from their
// struct tags.
func personalData() *shred.Schema {
	schema, err := shred.NewSchema(shred.Of[GameStarted](TypeGameStarted), shred.Of[MoveMade](TypeMoveMade))
	if err != nil {
		// The event types are this package's own: an error is a bug.
		panic(err)
	}
	return schema
}

// ErrNamesNotForgettable means Forget was called on a service that keeps
// names in the clear.
var ErrNamesNotForgettable = errors.New("this service stores names in the clear: only a service made WithForgettableNames can forget them")

// Forget erases player's name from every game that a service made
// [WithForgettableNames] started, from all of its events, the moves that
// other services made in it too: the events stay, and the games still
// replay, but the name reads as "[forgotten]" from now on. Names stored in
// the clear, in the games that other services started, stay.
// The read models are rebuilt, so that they forget it too. When the key
// is deleted but a copy stays on the disk for now (an error matching
// [shred.ErrKeyOnDisk]: another reader kept the embedded store's log in
// use), the name is forgotten all the same, the read models included,
// and calling Forget again once the reads are done erases the copies.
func (s *Service) Forget(ctx context.Context, player string) error {
	if s.secure == nil {
		return ErrNamesNotForgettable
	}
	// A key deleted but still on the disk (shred.ErrKeyOnDisk) is
	// forgotten all the same: the read models must lose the name now,
	// and the error says what is left to do.
	forgot := s.secure.Forget(ctx, player)
	if forgot != nil && !errors.Is(forgot, shred.ErrKeyOnDisk) {
		return fmt.Errorf("forget %q: %w", player, forgot)
	}
	if s.read != nil {
		if err := s.read.rebuild(ctx); err != nil {
			return fmt.Errorf("forget %q: rebuild read models: %w", player, err)
		}
	}
	if forgot != nil {
		// The readers that kept the key on the disk keep the read
		// models' old rows there too: Forget again clears both.
		return fmt.Errorf("forget %q: %w", player, forgot)
	}
	if s.read != nil {
		if err := s.read.checkpoint(ctx); err != nil {
			return fmt.Errorf("forget %q: the read models no longer hold the name, but copies of their old rows stay on the disk until a checkpoint: forget again once long reads are done: %w", player, err)
		}
	}
	return nil
}

// ErrNoReadModels means [Service.RebuildReadModels] was called on a
// service whose store keeps no read models (it is not a
// [projection.DB]): ListGames and Leaderboard read the events each time,
// and there is nothing to rebuild.
var ErrNoReadModels = errors.New("this store keeps no read models: the games and the leaderboard are read from the events each time")

// RebuildReadModels empties the games table and the leaderboard that
// [Projections] keep, and replays every game's events into them, as
// [Service.Forget] does. A read model built by an earlier version keeps
// what that version counted until it is rebuilt, such as a leaderboard
// that counted twice a game whose two players have the same name (see
// [PlayerStats]). On a store without read models it returns
// [ErrNoReadModels].
func (s *Service) RebuildReadModels(ctx context.Context) error {
	if s.read == nil {
		return ErrNoReadModels
	}
	if err := s.read.rebuild(ctx); err != nil {
		return fmt.Errorf("rebuild read models: %w", err)
	}
	if err := s.read.checkpoint(ctx); err != nil {
		return fmt.Errorf("rebuild read models: %w", err)
	}
	return nil
}

// CreateGame starts a new game between two players and returns its id.
// Names are trimmed of spaces; a refused name gives an error matching
// [ErrInvalidPlayerName] or [ErrSamePlayers].
func (s *Service) CreateGame(ctx context.Context, playerOne, playerTwo string) (uuid.UUID, error) {
	// A random (version 4) id, as the tutorial uses: its first few
	// characters are enough to tell games apart on the command line.
	// The game is new, so there is nothing to load: HandleNew appends
	// expecting no stream.
	id := uuid.New()
	cmd := StartGame{PlayerOne: playerOne, PlayerTwo: playerTwo}
	if _, err := s.games.HandleNew(ctx, StreamName(id), cmd); err != nil {
		return uuid.Nil, fmt.Errorf("create game: %w", err)
	}
	return id, nil
}

// MakeMove drops player's token into column of game id and returns the
// game after the move.
//
// The move is decided on the game as loaded and saved only if the game
// is still at the revision loaded. When another move was saved in
// between, the move is decided again on the new state, so that of two
// concurrent moves only one applies: the other is refused by the rules,
// typically with [ErrNotYourTurn]. If moves keep arriving faster than the
// retries, the error matches [ErrConcurrentMove]. A refusal by the rules
// matches the rule's Err variable; a game that does not exist has not
// started ([ErrNotStarted]).
func (s *Service) MakeMove(ctx context.Context, id uuid.UUID, player string, column Column) (Game, error) {
	out, err := s.games.Handle(ctx, StreamName(id), MakeMove{Player: player, Column: column})
	if errors.Is(err, chronicle.ErrWrongExpectedRevision) {
		err = refuse(ErrConcurrentMove, "other moves were being made in this game at the same time: look at the board and try again")
	}
	if err != nil {
		return out.State, fmt.Errorf("move in game %s: %w", id, err)
	}
	return out.State, nil
}

// CanMove returns an error matching [ErrNamesEncrypted] when this service
// cannot record moves in game id, whose names are stored encrypted with
// keys it does not have, and nil otherwise: the rules are
// [Service.MakeMove]'s to apply. After [Service.GetGame] of the game it
// reads nothing more.
func (s *Service) CanMove(ctx context.Context, id uuid.UUID) error {
	sealed, err := s.store.namesSealed(ctx, StreamName(id), chronicle.StreamExists)
	if err == nil && sealed && s.store.sealed == nil {
		err = ErrNamesEncrypted
	}
	if err != nil {
		return fmt.Errorf("move in game %s: %w", id, err)
	}
	return nil
}

// GetGame returns the state of game id, rebuilt from its events: the
// players, whose turn it is, the board and, once finished, the result.
// A game that does not exist gives an error matching [ErrGameNotFound].
func (s *Service) GetGame(ctx context.Context, id uuid.UUID) (Game, error) {
	g, rev, err := s.games.Load(ctx, StreamName(id))
	if err != nil {
		return Game{}, fmt.Errorf("get game %s: %w", id, err)
	}
	if rev.IsNoStream() {
		return Game{}, fmt.Errorf("get game %s: %w", id, ErrGameNotFound)
	}
	return g, nil
}

// History returns the recorded events of game id, oldest first: the
// game's story, for showing or replaying it. A game that does not exist,
// or whose events the stream's retention metadata all hides, gives an
// error matching [ErrGameNotFound].
func (s *Service) History(ctx context.Context, id uuid.UUID) ([]chronicle.RecordedEvent, error) {
	var events []chronicle.RecordedEvent
	for rec, err := range s.store.ReadStream(ctx, StreamName(id), chronicle.ReadStreamOptions{}) {
		if errors.Is(err, chronicle.ErrStreamNotFound) {
			return nil, fmt.Errorf("history of game %s: %w", id, ErrGameNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("history of game %s: %w", id, err)
		}
		events = append(events, rec)
	}
	if len(events) == 0 {
		// The stream's metadata hides every event (max age, truncate
		// before): the store reads it as empty, not as missing, but
		// there is no game to show, as GetGame says too.
		return nil, fmt.Errorf("history of game %s: %w", id, ErrGameNotFound)
	}
	return events, nil
}

// Replay returns the states game id went through: the state after each
// of its events, in order, each with the event that led to it. A game
// that [Service.History] does not find gives its error, so the steps
// are never empty.
func (s *Service) Replay(ctx context.Context, id uuid.UUID) ([]Step, error) {
	history, err := s.History(ctx, id)
	if err != nil {
		return nil, err
	}
	steps := make([]Step, 0, len(history))
	var g Game
	for _, rec := range history {
		e, err := s.codec.Decode(rec)
		if err != nil {
			return nil, fmt.Errorf("replay game %s: %w", id, err)
		}
		g = Evolve(g, e)
		steps = append(steps, Step{Recorded: rec, Event: e, Game: g})
	}
	return steps, nil
}

// Step is one event of a game's history with the state it led to.
type Step struct {
	Recorded chronicle.RecordedEvent
	Event    Event
	Game     Game
}

// GameSummary is a game as [Service.ListGames] lists it.
type GameSummary struct {
	ID   uuid.UUID
	Game Game
	// Created is when the game started, and Updated when its latest event
	// was recorded.
	Created, Updated time.Time
}

// ListGames returns every game in the store, the most recently started
// first. The summaries carry the players, moves and result, not the board:
// [Service.GetGame] has that.
//
// On a store that keeps read models (the embedded SQLite store, or PostgreSQL),
// it reads the games table that [Projections] keeps, after bringing it up
// to date. Elsewhere it reads the store's global log; events of types it
// does not know, such as ones a newer version added, are skipped. A game
// whose GameStarted is no longer stored (retention removed it) is left
// out, there as in the read models: it names no players.
func (s *Service) ListGames(ctx context.Context) ([]GameSummary, error) {
	if s.read != nil {
		games, err := s.read.listGames(ctx)
		if err != nil {
			return nil, fmt.Errorf("list games: %w", err)
		}
		return games, nil
	}
	return s.listFromLog(ctx)
}

// Leaderboard returns every player's games, wins, losses and ties, the
// most wins first (see [PlayerStats] for the old games whose two players
// have the same name). Like ListGames, it reads the leaderboard that
// [Projections] keeps when the store has read models.
func (s *Service) Leaderboard(ctx context.Context) ([]PlayerStats, error) {
	if s.read != nil {
		stats, err := s.read.leaderboard(ctx)
		if err != nil {
			return nil, fmt.Errorf("leaderboard: %w", err)
		}
		return stats, nil
	}
	games, err := s.listFromLog(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*PlayerStats{}
	var order []*PlayerStats
	for _, g := range slices.Backward(games) {
		self := g.Game.PlayerOne == g.Game.PlayerTwo // see PlayerStats
		for i, name := range players(g.Game.PlayerOne, g.Game.PlayerTwo) {
			p := byName[name]
			if p == nil {
				p = &PlayerStats{Name: name}
				byName[name] = p
				order = append(order, p)
			}
			p.Games++
			switch {
			case g.Game.Result == Tied:
				p.Ties++
			case self:
			case g.Game.Result == PlayerOneWon && i == 0, g.Game.Result == PlayerTwoWon && i == 1:
				p.Wins++
			case g.Game.Result == PlayerOneWon, g.Game.Result == PlayerTwoWon:
				p.Losses++
			}
		}
	}
	out := make([]PlayerStats, len(order))
	for i, p := range order {
		out[i] = *p
	}
	slices.SortStableFunc(out, func(a, b PlayerStats) int {
		switch {
		case a.Wins != b.Wins:
			return b.Wins - a.Wins
		case a.Ties != b.Ties:
			return b.Ties - a.Ties
		case a.Losses != b.Losses:
			return a.Losses - b.Losses
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// listFromLog lists the games by reading the global log.
func (s *Service) listFromLog(ctx context.Context) ([]GameSummary, error) {
	byStream := make(map[string]*GameSummary)
	var order []*GameSummary
	opts := chronicle.ReadAllOptions{Filter: chronicle.Filter{Categories: []string{Category}}}
	for rec, err := range s.store.ReadAll(ctx, opts) {
		if err != nil {
			return nil, fmt.Errorf("list games: %w", err)
		}
		if !s.codec.Knows(rec.Type) {
			continue
		}
		sum, ok := byStream[rec.Stream]
		if !ok {
			id, err := ParseStreamName(rec.Stream)
			if err != nil {
				continue // a stream of the category that is not ours
			}
			sum = &GameSummary{ID: id, Created: rec.Recorded}
			byStream[rec.Stream] = sum
			order = append(order, sum)
		}
		e, err := s.codec.Decode(rec)
		if err != nil {
			return nil, fmt.Errorf("list games: %w", err)
		}
		sum.Game = Evolve(sum.Game, e)
		sum.Updated = rec.Recorded
	}
	games := make([]GameSummary, 0, len(order))
	for _, sum := range slices.Backward(order) {
		// A game whose start is not stored, as after retention and a
		// scavenge removed its first events, names no players: the
		// read models leave it out too.
		if sum.Game.Started {
			games = append(games, *sum)
		}
	}
	return games, nil
}

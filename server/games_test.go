package server

import (
	"context"
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle"
	"github.com/chronicle-es/chronicle/examples/connectfour"
	"github.com/chronicle-es/chronicle/internal/pgtest"
	"github.com/chronicle-es/chronicle/projection"
	"github.com/chronicle-es/chronicle/shred"
	"github.com/google/uuid"
)

func TestConnectFourAPI(t *testing.T) {
	for name, store := range map[string]func(t *testing.T) chronicle.Store{
		"Memory": func(*testing.T) chronicle.Store { return nil },
		"SQLite": func(t *testing.T) chronicle.Store { return sqliteStore(t) },
	} {
		t.Run(name, func(t *testing.T) {
			_, ts := newTestServer(t, store(t), nil)
			post(t, ts, "/api/games", `{"playerOne":"ada"}`).want(t, 400, "bad_request")
			post(t, ts, "/api/games", `{"playerOne":"ada","playerTwo":"ADA"}`).want(t, 422, "same_players")
			post(t, ts, "/api/games", `{"playerOne":"","playerTwo":"b"}`).want(t, 422, "invalid_player_name")
			g := post(t, ts, "/api/games", `{"playerOne":"ada","playerTwo":"alan"}`).want(t, 201, "").json(t)
			id := g["id"].(string)
			moves := "/api/games/" + id + "/moves"
			a := post(t, ts, moves, `{"player":"alan","column":"D"}`).want(t, 422, "not_your_turn")
			if msg := a.json(t)["error"]; msg != "it is ada's turn, not alan's" {
				t.Errorf("not your turn says %q", msg)
			}
			post(t, ts, moves, `{"player":"ada","column":"H"}`).want(t, 422, "invalid_column")
			post(t, ts, moves, `{"player":"ada"}`).want(t, 400, "bad_request")
			post(t, ts, "/api/games/not-a-uuid/moves", `{"player":"ada","column":"A"}`).want(t, 404, "game_not_found")
			post(t, ts, "/api/games/0b8e3c4e-1d2a-4c77-9a52-0c8f0f1d2e3a/moves", `{"player":"ada","column":"A"}`).want(t, 404, "game_not_found")
			get(t, ts, "/api/games/0b8e3c4e-1d2a-4c77-9a52-0c8f0f1d2e3a").want(t, 404, "game_not_found")
			// Fill column A: six moves, then a seventh is refused.
			for i := range 6 {
				player := []string{"ada", "alan"}[i%2]
				post(t, ts, moves, `{"player":"`+player+`","column":"a"}`).want(t, 200, "")
			}
			post(t, ts, moves, `{"player":"ada","column":"A"}`).want(t, 422, "column_full")
			// ada wins on the bottom row, A (already hers) to D, with alan
			// answering on the row above.
			var last map[string]any
			for _, m := range []string{"ada:B", "alan:B", "ada:C", "alan:C", "ada:D"} {
				p, c, _ := strings.Cut(m, ":")
				last = post(t, ts, moves, `{"player":"`+p+`","column":"`+c+`"}`).want(t, 200, "").json(t)
			}
			if last["result"] != "PLAYER_ONE_WON" || last["outcome"] != "ada won" || len(last["win"].([]any)) != 4 {
				t.Fatalf("after the winning move: result %v outcome %v win %v", last["result"], last["outcome"], last["win"])
			}
			steps := last["steps"].([]any)
			// GameStarted, 11 moves, GameFinished.
			if len(steps) != 13 || last["revision"] != 12.0 {
				t.Fatalf("%d steps, revision %v; want 13 and 12", len(steps), last["revision"])
			}
			first := steps[1].(map[string]any)["board"].([]any)
			if bottom := first[5].([]any); bottom[0] != "red" || bottom[1] != "" {
				t.Errorf("the board after the first move: bottom row %v", bottom)
			}
			post(t, ts, moves, `{"player":"alan","column":"G"}`).want(t, 422, "game_over")

			list := get(t, ts, "/api/games").want(t, 200, "").json(t)
			if gs := list["games"].([]any); len(gs) != 1 || gs[0].(map[string]any)["outcome"] != "ada won" {
				t.Errorf("games list: %v", list)
			}
			if list["readModels"] != (name == "SQLite") {
				t.Errorf("readModels = %v on %s", list["readModels"], name)
			}
			board := get(t, ts, "/api/leaderboard").want(t, 200, "").json(t)["players"].([]any)
			if len(board) != 2 || board[0].(map[string]any)["name"] != "ada" || board[0].(map[string]any)["wins"] != 1.0 {
				t.Errorf("leaderboard: %v", board)
			}
			page := get(t, ts, "/games").want(t, 200, "").body
			if !strings.Contains(page, "ada v alan") || !strings.Contains(page, "ada won") {
				t.Errorf("the games page does not list the game:\n%s", page)
			}
			if strings.Contains(page, "keeps no read models") == (name == "SQLite") {
				t.Errorf("the games page misstates whether %s keeps read models", name)
			}

			// A game whose stream's metadata hides every event is not
			// found, as the service says, rather than a game of nobody
			// with no steps (whose page failed in the browser).
			hidden := post(t, ts, "/api/games", `{"playerOne":"ada","playerTwo":"alan"}`).want(t, 201, "").json(t)
			do(t, ts, req{method: "PUT", path: "/api/streams/" + hidden["stream"].(string) + "/metadata", body: `{"maxAge":"","maxCount":0,"truncateBefore":10}`}).want(t, 200, "")
			get(t, ts, "/api/games/"+hidden["id"].(string)).want(t, 404, "game_not_found")
			if a := get(t, ts, "/games/"+hidden["id"].(string)); a.status != 404 {
				t.Errorf("the page of a hidden game: %d\n%s", a.status, a.body)
			}
		})
	}
}

// TestConnectFourEncryptedNames serves a store where "connectfour" played:
// its players' names are encrypted, with their keys in the store's
// database. The server shows them, and its projections apply them (it
// answered 500 for such a game, and the projections retried it for ever,
// so that the games list failed for every game). The games it starts
// store their names in the clear, as the tutorial and EventStoreDB store
// them, so that a service without the keys, as over kurrentdb://, reads
// them (they were stored encrypted, which such a service cannot read).
func TestConnectFourEncryptedNames(t *testing.T) {
	onDatabases(t, func(t *testing.T, store chronicle.Store) {
		s, ts := newTestServer(t, store, nil)
		ctx := context.Background()
		cli := connectfour.NewService(store, connectfour.WithForgettableNames())
		played, err := cli.CreateGame(ctx, "alice", "bob")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.MakeMove(ctx, played, "alice", "D"); err != nil {
			t.Fatal(err)
		}
		g := get(t, ts, "/api/games/"+played.String()).want(t, 200, "").json(t)
		if g["playerOne"] != "alice" || g["playerTwo"] != "bob" {
			t.Errorf("the CLI's game is between %v and %v, want alice and bob", g["playerOne"], g["playerTwo"])
		}
		started := post(t, ts, "/api/games", `{"playerOne":"carol","playerTwo":"dave"}`).want(t, 201, "").json(t)
		id := uuid.MustParse(started["id"].(string))
		post(t, ts, "/api/games/"+id.String()+"/moves", `{"player":"carol","column":"A"}`).want(t, 200, "")

		// The server's events are stored as the tutorial stores them.
		var stored []string
		for e, err := range store.ReadStream(ctx, connectfour.StreamName(id), chronicle.ReadStreamOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			stored = append(stored, string(e.Data))
		}
		if want := []string{`{"player_one":"carol","player_two":"dave"}`, `{"player":"carol","column":"A"}`}; !slices.Equal(stored, want) {
			t.Errorf("the server stored its game as\n%q\nwant\n%q", stored, want)
		}
		// A service without the keys reads them, as over kurrentdb://
		// (a store without a database), and reads the CLI's game too,
		// its names as what they are to it: encrypted.
		plain := connectfour.NewService(struct{ chronicle.Store }{store})
		if g, err := plain.GetGame(ctx, id); err != nil || g.PlayerOne != "carol" || g.PlayerTwo != "dave" || g.Moves != 1 {
			t.Errorf("a service without keys reads the server's game as %+v, %v", g, err)
		}
		games, err := plain.ListGames(ctx)
		if err != nil || len(games) != 2 {
			t.Fatalf("a service without keys lists %+v, %v", games, err)
		}
		if g := games[1].Game; games[1].ID != played || g.PlayerOne != shred.Encrypted || g.PlayerTwo != shred.Encrypted {
			t.Errorf("a service without keys lists the CLI's game as %+v", games[1])
		}
		// The CLI's service reads the server's game too.
		if g, err := cli.GetGame(ctx, id); err != nil || g.PlayerOne != "carol" {
			t.Errorf("the CLI reads the server's game as %+v, %v", g, err)
		}

		// The server's projections, not the service's own catch-up,
		// bring the read models up to date first.
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.RunProjections(pctx) }()
		defer func() { cancel(); <-done }()
		waitForProjections(t, s)
		st, err := s.runner.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range st {
			if p.State == projection.Stopped || p.Err != nil {
				t.Errorf("projection %s: %s, %v", p.Name, p.State, p.Err)
			}
		}
		list := get(t, ts, "/api/games").want(t, 200, "").body
		board := get(t, ts, "/api/leaderboard").want(t, 200, "").body
		for _, name := range []string{"alice", "bob", "carol", "dave"} {
			if !strings.Contains(list, `"`+name+`"`) || !strings.Contains(board, `"`+name+`"`) {
				t.Errorf("%s is missing from the games list or the leaderboard:\n%s\n%s", name, list, board)
			}
		}

		// Forgetting erases the names the CLI encrypted; the server
		// shows them as forgotten.
		if err := cli.Forget(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		g = get(t, ts, "/api/games/"+played.String()).want(t, 200, "").json(t)
		if g["playerOne"] != shred.Forgotten || g["playerTwo"] != "bob" {
			t.Errorf("after forgetting alice, the CLI's game is between %v and %v", g["playerOne"], g["playerTwo"])
		}
	})
}

// TestConnectFourMoveInCLIGameStaysForgettable continues in the web UI a
// game that "connectfour" started with its names encrypted, then forgets
// a player with "connectfour forget": the server's move named her in the
// clear, so that the stored event and the game's page kept her name. A
// server whose store does not reach the keys refuses such a move, with a
// 409 that says why, rather than recording "[encrypted]" as the player.
func TestConnectFourMoveInCLIGameStaysForgettable(t *testing.T) {
	onDatabases(t, func(t *testing.T, store chronicle.Store) {
		_, ts := newTestServer(t, store, nil)
		ctx := context.Background()
		cli := connectfour.NewService(store, connectfour.WithForgettableNames())
		id, err := cli.CreateGame(ctx, "alice", "bob")
		if err != nil {
			t.Fatal(err)
		}
		post(t, ts, "/api/games/"+id.String()+"/moves", `{"player":"alice","column":"D"}`).want(t, 200, "")
		for e, err := range store.ReadStream(ctx, connectfour.StreamName(id), chronicle.ReadStreamOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(e.Data), "alice") {
				t.Errorf("the CLI's game holds %s@%d in the clear: %s", e.Type, e.Revision, e.Data)
			}
		}
		if err := cli.Forget(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if body := get(t, ts, "/api/games/"+id.String()).want(t, 200, "").body; strings.Contains(body, "alice") || !strings.Contains(body, shred.Forgotten) {
			t.Errorf("after forgetting alice, the game's page still names her:\n%s", body)
		}

		// A server over the same events without their database has
		// no keys.
		_, blind := newTestServer(t, struct{ chronicle.Store }{store}, nil)
		post(t, blind, "/api/games/"+id.String()+"/moves", `{"player":"[encrypted]","column":"E"}`).want(t, 409, "names_encrypted")
	})
}

func TestUIPages(t *testing.T) {
	_, ts := newTestServer(t, sqliteStore(t), nil)
	post(t, ts, "/api/streams/order-1", appendBody(`"any"`, "Placed", 3)).want(t, 201, "")
	dash := get(t, ts, "/").want(t, 200, "").body
	for _, want := range []string{`id="stream-count">1<`, `id="event-count">3<`, "<svg", "<rect", "connectfour-games"} {
		if !strings.Contains(dash, want) {
			t.Errorf("the dashboard lacks %q", want)
		}
	}
	if page := get(t, ts, "/streams?prefix=order").want(t, 200, "").body; !strings.Contains(page, `href="/streams/order-1"`) {
		t.Errorf("the stream list lacks order-1:\n%s", page)
	}
	page := get(t, ts, "/streams/order-1?direction=forwards&limit=2").want(t, 200, "").body
	if !strings.Contains(page, "#0") || !strings.Contains(page, "#1") || strings.Contains(page, "#2") || !strings.Contains(page, "from=2") {
		t.Errorf("the first page of order-1 should show revisions 0 and 1 and link to the next:\n%s", page)
	}
	if page := get(t, ts, "/streams/order-1").body; !strings.Contains(page, `&#34;n&#34;: 2`) {
		t.Errorf("the stream page does not pretty-print the newest event's data:\n%s", page)
	}
	a := get(t, ts, "/streams/nothing")
	if a.status != 404 || !strings.Contains(a.body, `stream &#34;nothing&#34; not found`) {
		t.Errorf("a missing stream: %d\n%s", a.status, a.body)
	}
	if a := get(t, ts, "/games/nope"); a.status != 404 || !strings.Contains(a.body, "a game id is a UUID") {
		t.Errorf("a bad game id: %d\n%s", a.status, a.body)
	}
	if a := get(t, ts, "/static/app.js"); a.status != 200 || !strings.Contains(a.body, "EventSource") {
		t.Errorf("app.js: %d", a.status)
	}
	if tail := get(t, ts, "/tail").want(t, 200, "").body; !strings.Contains(tail, `data-source="/api/all/subscribe?from=4"`) {
		t.Errorf("the live tail should follow from position 4:\n%s", tail)
	}
}

// TestStreamPageLinksToItsLiveTail follows the stream page's "Watch it
// live" link to the live tail, which must be the tail of the same stream
// whatever its name holds: the link escaped the name twice.
func TestStreamPageLinksToItsLiveTail(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	link := regexp.MustCompile(`href="(/tail\?[^"]*)"`)
	tailOf := regexp.MustCompile(`Live tail of <span class="stream-name">([^<]*)</span>`)
	for _, stream := range []string{"order-1", "order 1", "a/b", "a&b", "a+b", "100%", "café-1"} {
		post(t, ts, "/api/streams/"+url.PathEscape(stream), appendBody(`"any"`, "E", 1)).want(t, 201, "")
		m := link.FindStringSubmatch(get(t, ts, "/streams/"+url.PathEscape(stream)).want(t, 200, "").body)
		if m == nil {
			t.Fatalf("stream %q: its page has no link to the live tail", stream)
		}
		href := html.UnescapeString(m[1])
		u, err := url.Parse(href)
		if err != nil {
			t.Fatalf("stream %q: the live tail link %s: %v", stream, href, err)
		}
		if got := u.Query().Get("stream"); got != stream {
			t.Errorf("stream %q: the live tail link %s follows stream %q", stream, href, got)
			continue
		}
		title := tailOf.FindStringSubmatch(get(t, ts, href).want(t, 200, "").body)
		if title == nil || html.UnescapeString(title[1]) != stream {
			t.Errorf("stream %q: the page at %s is not its live tail: %q", stream, href, title)
		}
	}
}

// onDatabases runs test on a store of each kind that has a database of its
// own, where connectfour keeps the keys of the names it encrypts.
func onDatabases(t *testing.T, test func(t *testing.T, store chronicle.Store)) {
	for name, open := range map[string]func(t *testing.T) chronicle.Store{
		"SQLite":     func(t *testing.T) chronicle.Store { return sqliteStore(t) },
		"PostgreSQL": func(t *testing.T) chronicle.Store { return pgtest.Open(t) },
	} {
		t.Run(name, func(t *testing.T) { test(t, open(t)) })
	}
}

// TestStaticServesFilesOnly: /static/ serves the UI's assets, one by one,
// and lists none of them: a directory is not found.
func TestStaticServesFilesOnly(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	for _, path := range []string{"/static/app.js", "/static/style.css"} {
		if a := get(t, ts, path); a.status != 200 || a.header.Get("Cache-Control") == "" {
			t.Errorf("%s: %d, Cache-Control %q", path, a.status, a.header.Get("Cache-Control"))
		}
	}
	for _, path := range []string{"/static/", "/static", "/static/nope.js", "/static/app.js/", "/static/./", "/static/index.html"} {
		a := get(t, ts, path)
		if a.status != 404 || strings.Contains(a.body, `href="app.js"`) {
			t.Errorf("%s: %d, want 404 without a listing:\n%.300s", path, a.status, a.body)
		}
	}
}

// TestUITimesAlike: every page shows times as the stream's page does,
// "2006-01-02 15:04:05.000000 UTC", not as the API writes them.
func TestUITimesAlike(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	post(t, ts, "/api/streams/order-1", appendBody(`"any"`, "Placed", 1)).want(t, 201, "")
	post(t, ts, "/api/games", `{"playerOne":"ada","playerTwo":"alan"}`).want(t, 201, "")
	shown := regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC`)
	api := regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	// The dashboard's bars are labelled by minute, in UTC too.
	if dash := get(t, ts, "/").want(t, 200, "").body; !regexp.MustCompile(`\d\d:\d\d UTC: \d+ events`).MatchString(dash) {
		t.Errorf("the dashboard's bars are not labelled by minute in UTC:\n%s", dash)
	}
	for _, path := range []string{"/streams", "/games", "/streams/order-1", "/tail"} {
		page := get(t, ts, path).want(t, 200, "").body
		if !shown.MatchString(page) || api.MatchString(page) {
			t.Errorf("%s shows times as %q, want as %q", path, api.FindString(page), "2006-01-02 15:04:05.000000 UTC")
		}
	}
}

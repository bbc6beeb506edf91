package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chronicle-es/chronicle/sqlite"
	"github.com/google/uuid"
)

// The browser tests drive the UI in a real headless Chromium, the
// system's own (Debian's chromium package): nothing is downloaded. They
// skip when it is missing, unless CHRONICLE_BROWSER_TESTS=1, as in CI,
// makes that a failure.

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CHRONICLE_BROWSER_TESTS") == "1" {
		t.Fatal("CHRONICLE_BROWSER_TESTS=1 but chromium is not installed (apt-get install chromium)")
	}
	t.Skip("chromium is not installed: apt-get install chromium to run the browser tests")
	return ""
}

// browser is a server of a SQLite store, with its projections running,
// and a tab of a new headless browser.
type browser struct {
	base  string
	ts    *httptest.Server
	s     *Server
	store *sqlite.Store
	tab   context.Context
}

// browserServer starts a server and a browser for a test.
func browserServer(t *testing.T) *browser {
	t.Helper()
	path := chromium(t)
	store := sqliteStore(t)
	// The header shows the store as "chronicle serve" does: its file.
	s, err := New(store, &Options{StoreName: "events.db"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	projCtx, stopProjections := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.RunProjections(projCtx); close(done) }()
	t.Cleanup(func() {
		stopProjections()
		<-done
		s.Close()
		ts.Close()
	})

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Headless,
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancelBrowser := chromedp.NewContext(alloc)
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTime()
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{base: ts.URL, ts: ts, s: s, store: store, tab: ctx}
}

// browse runs steps in a tab, failing the test with what it was doing.
func browse(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value returns what an action reads from a tab.
func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func count(t *testing.T, ctx context.Context, selector string) int {
	t.Helper()
	return value(t, ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", selector)))
}

// cell selects the cell of the board at column col (0 is A) and row
// from the top, holding a token of colour.
func cell(col, row int, colour string) string {
	return fmt.Sprintf(`#board .cell[data-cell="%d,%d"].%s`, col, row, colour)
}

// screenshotWidth is the width of the browser window for screenshots: a
// laptop's, so that the pictures in docs/ look as the pages usually do.
const screenshotWidth, screenshotHeight = 1280, 800

// screenshot takes a full-page PNG of the tab, checks that it shows
// something, and, when CHRONICLE_SCREENSHOTS_DIR is set, writes it there
// as name: the screenshots in docs/screenshots come from here, so that
// they show the UI as the tests left it.
func screenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	browse(t, tab, "size the window for "+name, chromedp.EmulateViewport(screenshotWidth, screenshotHeight))
	b := value(t, tab, chromedp.FullScreenshot(100))
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	}
	bounds := img.Bounds()
	if bounds.Dx() != screenshotWidth || bounds.Dy() < screenshotHeight {
		t.Fatalf("screenshot %s is %dx%d, want %d wide and at least %d high", name, bounds.Dx(), bounds.Dy(), screenshotWidth, screenshotHeight)
	}
	// A page that failed to load or lost its styles is nearly blank: a
	// page as designed has text, tables and colours.
	colours := map[color.RGBA]bool{}
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 3 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 3 {
			colours[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)] = true
		}
	}
	if len(colours) < 50 {
		t.Fatalf("screenshot %s has %d colours: the page looks blank", name, len(colours))
	}
	dir := os.Getenv("CHRONICLE_SCREENSHOTS_DIR")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", filepath.Join(dir, name))
}

func TestBrowserConnectFourInTwoWindows(t *testing.T) {
	b := browserServer(t)
	base, ada := b.base, b.tab
	browse(t, ada, "create a game",
		chromedp.Navigate(base+"/games"),
		chromedp.SendKeys(`#new-game input[name=playerOne]`, "ada"),
		chromedp.SendKeys(`#new-game input[name=playerTwo]`, "alan"),
		chromedp.Click(`#new-game button`),
		chromedp.WaitVisible(`#board`),
	)
	location := value(t, ada, chromedp.Location())
	if !strings.Contains(location, "?as=ada") {
		t.Fatalf("after creating the game, the page is %s, want the game as ada", location)
	}
	gameURL := strings.TrimSuffix(location, "?as=ada")

	// The second window: another tab of the same browser, as alan.
	alan, cancel := chromedp.NewContext(ada)
	defer cancel()
	browse(t, alan, "open the game as alan", chromedp.Navigate(gameURL+"?as=alan"), chromedp.WaitVisible(`#board`))

	// Out of turn: refused kindly, on the page.
	browse(t, alan, "move out of turn", chromedp.Click(`#board .column[data-column="A"]`), chromedp.WaitVisible(`#move-error`))
	if msg := value(t, alan, chromedp.Text(`#move-error`)); msg != "it is ada's turn, not alan's" {
		t.Errorf("the out-of-turn message is %q", msg)
	}

	// ada fills column D, alan column E; each window sees the other's
	// moves arrive by themselves.
	for i := range 4 {
		row := 5 - i
		browse(t, ada, fmt.Sprintf("ada's move %d", i+1), chromedp.Click(`#board .column[data-column="D"]`), chromedp.WaitVisible(cell(3, row, "red")))
		browse(t, alan, fmt.Sprintf("alan sees ada's move %d", i+1), chromedp.WaitVisible(cell(3, row, "red")))
		if i == 3 {
			break // ada has won
		}
		browse(t, alan, fmt.Sprintf("alan's move %d", i+1), chromedp.Click(`#board .column[data-column="E"]`), chromedp.WaitVisible(cell(4, row, "yellow")))
		browse(t, ada, fmt.Sprintf("ada sees alan's move %d", i+1), chromedp.WaitVisible(cell(4, row, "yellow")))
	}

	for name, tab := range map[string]context.Context{"ada": ada, "alan": alan} {
		browse(t, tab, name+"'s window after the win", chromedp.WaitVisible(`#banner.over`))
		banner := value(t, tab, chromedp.Text(`#banner`))
		logItems, wins := count(t, tab, "#log li"), count(t, tab, "#board .cell.win")
		if banner != "ada won" || logItems != 9 || wins != 4 {
			t.Errorf("%s's window: banner %q, %d events in the log, %d winning cells; want ada won, 9, 4", name, banner, logItems, wins)
		}
	}
	screenshot(t, ada, "game.png")

	// Time travel: back to the second event (ada's first move), the board
	// shows one red token and nothing else.
	browse(t, alan, "replay", chromedp.SetValue(`#replay`, "2"))
	value(t, alan, chromedp.Evaluate[bool](`document.getElementById("replay").dispatchEvent(new Event("input"))`))
	reds, yellows := count(t, alan, "#board .cell.red"), count(t, alan, "#board .cell.yellow")
	label, current := value(t, alan, chromedp.Text(`#step-label`)), value(t, alan, chromedp.Text(`#log li.current`))
	if reds != 1 || yellows != 0 || label != "2 of 9 (replay)" || !strings.Contains(current, "ada plays column D") {
		t.Errorf("replay at move 2: %d red, %d yellow, label %q, current event %q", reds, yellows, label, current)
	}

	// The games list and leaderboard, from the read models.
	browse(t, ada, "games list", chromedp.Navigate(base+"/games"))
	games, board := value(t, ada, chromedp.Text(`#games tbody`)), value(t, ada, chromedp.Text(`#leaderboard tbody`))
	if !strings.Contains(games, "ada v alan") || !strings.Contains(games, "ada won") || !strings.HasPrefix(strings.TrimSpace(board), "ada") {
		t.Errorf("games list %q, leaderboard %q", games, board)
	}
}

func TestBrowserLiveTailAndStreamBrowser(t *testing.T) {
	b := browserServer(t)
	base, tab := b.base, b.tab
	browse(t, tab, "open the live tail", chromedp.Navigate(base+"/tail"))
	waitLive(t, tab)
	// Append from outside the browser; the tail shows it.
	post(t, b.ts, "/api/streams/order-42", `{"expectedRevision":"no-stream","events":[{"id":"0190f1c2-7a3b-7c4d-8e5f-0a1b2c3d4e5f","type":"OrderPlaced",`+
		`"data":{"order":"<b>42</b>","customer":"ada","total":{"amount":"59.90","currency":"EUR"}},"metadata":{"$correlationId":"checkout-7f3a"}}]}`).want(t, 201, "")
	browse(t, tab, "see the event arrive", chromedp.WaitVisible(`#tail tbody tr.new`))
	row, bold := value(t, tab, chromedp.Text(`#tail tbody tr.new`)), count(t, tab, "#tail b")
	if !strings.Contains(row, "order-42") || !strings.Contains(row, "OrderPlaced") || !strings.Contains(row, `"<b>42</b>"`) || !strings.Contains(row, " UTC") || bold != 0 {
		t.Errorf("the tail's new row is %q (%d <b> elements: markup must show as text)", row, bold)
	}

	// The tail of one stream shows its events, not another's.
	browse(t, tab, "open the tail of order-42", chromedp.Navigate(base+"/tail?stream=order-42"))
	waitLive(t, tab)
	post(t, b.ts, "/api/streams/order-43", appendBody(`"any"`, "OrderPlaced", 1)).want(t, 201, "")
	post(t, b.ts, "/api/streams/order-42", `{"expectedRevision":0,"events":[`+
		`{"id":"0190f1c2-7a3b-7c4d-8e5f-0a1b2c3d4e60","type":"PaymentReceived","data":{"amount":"59.90","method":"card"},"metadata":{"$correlationId":"checkout-7f3a","$causationId":"0190f1c2-7a3b-7c4d-8e5f-0a1b2c3d4e5f"}},`+
		`{"id":"0190f1c2-7a3b-7c4d-8e5f-0a1b2c3d4e61","type":"OrderShipped","data":{"carrier":"DHL","parcels":[{"id":"JD0142","weight_kg":1.2}]},"metadata":{"$correlationId":"checkout-7f3a"}}]}`).want(t, 201, "")
	browse(t, tab, "see order-42's events arrive", chromedp.WaitVisible(`#tail tbody tr.new:nth-child(2)`))
	if rows := value(t, tab, chromedp.Text(`#tail tbody`)); strings.Contains(rows, "order-43") || !strings.Contains(rows, "OrderShipped") {
		t.Errorf("the tail of order-42 shows %q: want its own events only", rows)
	}

	// Search by category, then by prefix.
	post(t, b.ts, "/api/streams/cart-7", appendBody(`"any"`, "ItemAdded", 1)).want(t, 201, "")
	do(t, b.ts, req{method: "PUT", path: "/api/streams/order-42/metadata", body: `{"maxAge":"2160h","maxCount":0,"truncateBefore":0}`}).want(t, 200, "")
	browse(t, tab, "search the order category",
		chromedp.Navigate(base+"/streams"),
		chromedp.SendKeys(`.search input[name=category]`, "order"),
		chromedp.Submit(`.search input[name=category]`),
		// The value attribute is rendered by the server, so this waits for
		// the results page rather than matching the page being left.
		chromedp.WaitVisible(`.search input[name=category][value="order"]`),
		chromedp.WaitVisible(`#streams a[href="/streams/order-43"]`),
	)
	if list := value(t, tab, chromedp.Text(`#streams tbody`)); !strings.Contains(list, "order-42") || strings.Contains(list, "cart-7") ||
		strings.Index(list, "order-42") > strings.Index(list, "order-43") {
		t.Errorf("category order lists %q: want order-42 (written last) before order-43, and no cart", list)
	}
	browse(t, tab, "search by prefix",
		chromedp.Navigate(base+"/streams"),
		chromedp.SendKeys(`.search input[name=prefix]`, "order-42"),
		chromedp.Submit(`.search input[name=prefix]`),
		chromedp.WaitVisible(`.search input[name=prefix][value="order-42"]`),
		chromedp.WaitNotPresent(`#streams a[href="/streams/order-43"]`),
		chromedp.Click(`#streams a[href="/streams/order-42"]`),
		chromedp.WaitVisible(`#events .event`),
	)
	events := value(t, tab, chromedp.Text(`#events`))
	for _, want := range []string{"#0", "#2", "OrderPlaced", "OrderShipped", "position 1", `"carrier": "DHL"`, `"$correlationId": "checkout-7f3a"`, "<b>42</b>"} {
		if !strings.Contains(events, want) {
			t.Errorf("the stream page lacks %q:\n%s", want, events)
		}
	}
	if bold := count(t, tab, "#events b"); bold != 0 {
		t.Errorf("the stream page has %d <b> elements: event data must show as text", bold)
	}
	if meta := value(t, tab, chromedp.Text(`.meta`)); !strings.Contains(meta, "max age 2160h0m0s") {
		t.Errorf("the stream's metadata shows as %q", meta)
	}
	screenshot(t, tab, "stream.png")
}

// waitLive waits until the live tail is connected.
func waitLive(t *testing.T, tab context.Context) {
	t.Helper()
	value(t, tab, chromedp.Poll[bool](`document.getElementById("tail-status").textContent.startsWith("Live")`, chromedp.WithPollingTimeout(20*time.Second)))
}

// rateShape is how many events the dashboard test backdates into each of
// the last minutes, the oldest first: a shape that a broken chart would
// not draw by chance.
var rateShape = []int{3, 5, 8, 6, 4, 9, 12, 7, 5, 10, 14, 9, 6, 11}

func TestBrowserDashboard(t *testing.T) {
	b := browserServer(t)
	// History for the dashboard: orders and carts written over the last
	// minutes, then a game played to a win, whose read models the
	// projections keep.
	streams := map[string]bool{}
	total := 0
	for i, n := range rateShape {
		for j := range n {
			stream := fmt.Sprintf("order-%d", 1000+(i*7+j)%23)
			typ := []string{"OrderPlaced", "ItemAdded", "PaymentReceived", "OrderShipped"}[j%4]
			if j%3 == 2 {
				stream, typ = fmt.Sprintf("cart-%d", 500+(i+j)%9), "ItemAdded"
			}
			post(t, b.ts, "/api/streams/"+stream, appendBody(`"any"`, typ, 1)).want(t, 201, "")
			streams[stream] = true
			total++
		}
	}
	backdated := uint64(total)
	// The minute that the history leads up to, taken before the game's
	// events are stamped, so that they fall in it or later and never in
	// the last backdated minute, should the minute turn while the game
	// is played (that bar would then count both, and the shape be lost).
	thisMinute := time.Now().Truncate(time.Minute)
	game := post(t, b.ts, "/api/games", `{"playerOne":"ada","playerTwo":"alan"}`).want(t, 201, "").json(t)
	streams[game["stream"].(string)] = true
	total++
	for i := range 7 {
		player, column := "ada", "D"
		if i%2 == 1 {
			player, column = "alan", "E"
		}
		post(t, b.ts, "/api/games/"+game["id"].(string)+"/moves", fmt.Sprintf(`{"player":%q,"column":%q}`, player, column)).want(t, 200, "")
		total++
	}
	total++ // GameFinished

	// The store stamps events with the time of their commit, and a test
	// cannot wait a quarter of an hour: move the first events back into
	// the minutes of rateShape, keeping their order, so that the chart
	// has something to show.
	// Each minute of rateShape is a whole minute of the chart: the
	// chart's minutes start on the minute.
	err := b.store.Update(context.Background(), func(tx *sql.Tx) error {
		pos := uint64(1)
		for i, n := range rateShape {
			minute := thisMinute.Add(-time.Duration(len(rateShape)-i) * time.Minute)
			for j := range n {
				at := minute.Add(time.Duration(j) * time.Minute / time.Duration(n+1))
				if _, err := tx.Exec(`UPDATE events SET recorded = ? WHERE position = ?`, at.UnixMicro(), pos); err != nil {
					return err
				}
				pos++
			}
		}
		if pos-1 != backdated {
			return fmt.Errorf("backdated %d events, want %d", pos-1, backdated)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("backdate the history: %v", err)
	}
	waitForProjections(t, b.s)

	browse(t, b.tab, "open the dashboard", chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(`.chart`))
	streamCount, eventCount := value(t, b.tab, chromedp.Text(`#stream-count`)), value(t, b.tab, chromedp.Text(`#event-count`))
	if streamCount != fmt.Sprint(len(streams)) || eventCount != fmt.Sprint(total) {
		t.Errorf("the dashboard counts %s streams and %s events, want %d and %d", streamCount, eventCount, len(streams), total)
	}
	// The bars of the backdated minutes have the heights of rateShape,
	// the busiest minute the full 80; the last bar is this minute's game.
	// Should the minute turn before the page is drawn, every bar is one
	// to the left, and the oldest is gone.
	heights := value(t, b.tab, chromedp.Evaluate[[]float64](`[...document.querySelectorAll(".chart rect")].map(r => Number(r.getAttribute("height")))`))
	if len(heights) != rateMinutes {
		t.Fatalf("the chart has %d bars, want %d", len(heights), rateMinutes)
	}
	busiest := slices.Max(rateShape)
	fits := func(shift int) bool {
		first := rateMinutes - 1 - len(rateShape) - shift
		for i, n := range rateShape {
			if k := first + i; k >= 0 && math.Abs(heights[k]-80*float64(n)/float64(busiest)) > 0.01 {
				return false
			}
		}
		return true
	}
	if !fits(0) && !fits(1) {
		t.Errorf("the chart's bars are %v: want the shape of %v", heights, rateShape)
	}
	projections := value(t, b.tab, chromedp.Text(`#projections tbody`))
	for _, want := range []string{"connectfour-games", "connectfour-leaderboard"} {
		if !strings.Contains(projections, want) {
			t.Errorf("the projections table lacks %s:\n%s", want, projections)
		}
	}
	if lags := value(t, b.tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#projections td.lag")].map(td => td.textContent)`)); !slices.Equal(lags, []string{"0", "0"}) {
		t.Errorf("the projections show lags %q: want 0 for both, caught up", lags)
	}
	screenshot(t, b.tab, "dashboard.png")
}

// waitForProjections waits until the read models reflect every event.
func waitForProjections(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := s.runner.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		behind := false
		for _, p := range st {
			behind = behind || p.Lag > 0
		}
		if !behind {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the projections are still behind: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tailData is event data of each kind that the live tail must show as
// the server's pages show it: as the event holds it.
var tailData = []struct {
	name, field, value string // the append's data or dataBase64, as JSON
	shows              string // what the tail's cell must hold
}{
	// JSON as written: numbers beyond a float64's precision, keys in
	// their order (JavaScript's objects put integer keys first), escapes
	// and characters that encoding/json would escape for HTML.
	{"json", "data", `{"id":12345678901234567890,"b":1.50,"2":[],"s":"<&>\u003c é","e":{}}`,
		"{\n  \"id\": 12345678901234567890,\n  \"b\": 1.50,\n  \"2\": [],\n  \"s\": \"<&>\\u003c é\",\n  \"e\": {}\n}"},
	{"json-escape", "data", `"\u2028 line"`, `"\u2028 line"`},
	{"json-raw", "data", "\"\u2028 line\"", "\"\u2028 line\""}, // U+2028 itself
	{"text", "dataBase64", `"aGVsbG8sIDxiPndvcmxkPC9iPg=="`, "hello, <b>world</b>"},
	{"text-bom", "dataBase64", `"77u/aGk="`, "\ufeffhi"},
	{"binary", "dataBase64", `"//79AA=="`, "base64: //79AA=="},
	{"surrogate", "dataBase64", `"7aCA"`, "base64: 7aCA"}, // not UTF-8 for Go
}

// TestBrowserLiveTailShowsDataAsStored appends events with each kind of
// data, opens the live tail, which the server renders with them, then
// appends the same again: the rows that arrive live must show each
// event's data as the rows rendered by the server do.
func TestBrowserLiveTailShowsDataAsStored(t *testing.T) {
	b := browserServer(t)
	all := append(slices.Clone(tailData), largeTailData()...)
	appendAll := func() {
		var evs []string
		for _, d := range all {
			evs = append(evs, fmt.Sprintf(`{"id":%q,"type":%q,%q:%s}`, uuid.NewString(), d.name, d.field, d.value))
		}
		post(t, b.ts, "/api/streams/data-1", `{"expectedRevision":"any","events":[`+strings.Join(evs, ",")+`]}`).want(t, 201, "")
	}
	appendAll()
	browse(t, b.tab, "open the tail of data-1", chromedp.Navigate(b.base+"/tail?stream=data-1"))
	waitLive(t, b.tab)
	appendAll()
	n := len(all)
	browse(t, b.tab, "see the events arrive", chromedp.WaitVisible(fmt.Sprintf(`#tail tbody tr.new:nth-child(%d)`, n)))
	// The data cells by revision: the server's rows hold revisions 0 to
	// n-1, the live ones n to 2n-1.
	cells := value(t, b.tab, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll("#tail tbody tr")].map(tr => [tr.cells[2].textContent, tr.cells[5].textContent]))`))
	short := func(s string) string {
		if len(s) > 200 {
			return fmt.Sprintf("%d bytes ending %q", len(s), s[len(s)-120:])
		}
		return strconv.Quote(s)
	}
	for i, d := range all {
		rendered, live := cells[fmt.Sprint(i)], cells[fmt.Sprint(n+i)]
		if rendered != d.shows || live != d.shows {
			t.Errorf("%s data: the server's row shows %s, the live row %s; want %s", d.name, short(rendered), short(live), short(d.shows))
		}
	}
}

// largeTailData is data over what a row shows (maxShownData): shortened
// alike by the server and the live tail, cut where a character starts.
func largeTailData() []struct{ name, field, value, shows string } {
	note := func(n int) string {
		return fmt.Sprintf("\n… shortened: the data is %d bytes; the API's read of the event has it all", n)
	}
	str := `"` + strings.Repeat("é", maxShownData/2+10) + `"`
	text := strings.Repeat("€", maxShownData/3+10) // three bytes each
	binary := bytes.Repeat([]byte{0xff, 0x00}, maxShownData)
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	return []struct{ name, field, value, shows string }{
		{"large-json", "data", str, `"` + strings.Repeat("é", maxShownData/2-1) + note(len(str))},
		{"large-text", "dataBase64", strconv.Quote(b64([]byte(text))), strings.Repeat("€", maxShownData/3) + note(len(text))},
		{"large-binary", "dataBase64", strconv.Quote(b64(binary)), "base64: " + b64(binary[:maxShownData]) + note(len(binary))},
	}
}

// restartingProxy stands in front of a browser test's server as a proxy
// does while the server restarts: from goAway until comeBack, it answers
// every request with 502 Bad Gateway. EventSource gives up for good on
// such an answer, where it reconnects after a dropped connection.
type restartingProxy struct {
	*httptest.Server
	away       atomic.Bool
	refused    atomic.Int32
	subscribes atomic.Int32 // requests to subscribe, answered or not
}

func newRestartingProxy(t *testing.T, b *browser) *restartingProxy {
	p := &restartingProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/subscribe") {
			p.subscribes.Add(1)
		}
		if p.away.Load() {
			p.refused.Add(1)
			http.Error(w, "the server is restarting", http.StatusBadGateway)
			return
		}
		b.s.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		// The tab's subscription would hold Close up until the browser
		// goes, which comes after.
		p.CloseClientConnections()
		p.Close()
	})
	return p
}

// goAway drops the connections, and waits until the page has tried to
// reconnect and been refused.
func (p *restartingProxy) goAway(t *testing.T) {
	t.Helper()
	p.away.Store(true)
	p.CloseClientConnections()
	deadline := time.Now().Add(20 * time.Second)
	for p.refused.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the page did not try to reconnect")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *restartingProxy) comeBack() { p.away.Store(false) }

// tailBehindProxy appends an event of type typ to order-1, and opens the
// tail at path behind a restartingProxy.
func tailBehindProxy(t *testing.T, path, typ string) (*browser, *restartingProxy) {
	t.Helper()
	b := browserServer(t)
	proxy := newRestartingProxy(t, b)
	post(t, b.ts, "/api/streams/order-1", appendBody(`"any"`, typ, 1)).want(t, 201, "")
	browse(t, b.tab, "open the tail", chromedp.Navigate(proxy.URL+path))
	waitLive(t, b.tab)
	return b, proxy
}

// TestBrowserLiveTailFollowsAfterARefusedReconnection checks that the
// live tail, refused a reconnection, subscribes again from after the last
// event it showed, and shows the events appended since, once each.
func TestBrowserLiveTailFollowsAfterARefusedReconnection(t *testing.T) {
	b, proxy := tailBehindProxy(t, "/tail", "Before")
	post(t, b.ts, "/api/streams/order-1", appendBody(`"any"`, "Live", 1)).want(t, 201, "")
	browse(t, b.tab, "see the first live event", chromedp.WaitVisible(`#tail tbody tr.new`))

	proxy.goAway(t)
	post(t, b.ts, "/api/streams/order-1", appendBody(`"any"`, "WhileAway", 1)).want(t, 201, "")
	proxy.comeBack()
	if _, err := chromedp.Run(b.tab, chromedp.Poll[bool](`document.getElementById("tail-status").textContent.startsWith("Live")`,
		chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the tail is not live again 20s after the server came back (%v): it says %q", err, value(t, b.tab, chromedp.Text(`#tail-status`)))
	}
	post(t, b.ts, "/api/streams/order-1", appendBody(`"any"`, "AfterComingBack", 1)).want(t, 201, "")
	browse(t, b.tab, "see the events after the restart", chromedp.WaitVisible(`#tail tbody tr.new:nth-child(3)`))
	types := value(t, b.tab, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#tail tbody tr")].map(tr => tr.cells[3].textContent)`))
	if want := []string{"AfterComingBack", "WhileAway", "Live", "Before"}; !slices.Equal(types, want) {
		t.Errorf("the tail shows %q, want %q", types, want)
	}
}

// TestBrowserGameFollowsAfterARefusedReconnection checks that a game's
// window, refused a reconnection, goes on showing the other window's
// moves once the server is back.
func TestBrowserGameFollowsAfterARefusedReconnection(t *testing.T) {
	b := browserServer(t)
	proxy := newRestartingProxy(t, b)
	game := post(t, b.ts, "/api/games", `{"playerOne":"ada","playerTwo":"alan"}`).want(t, 201, "").json(t)
	move := func(player, column string) {
		post(t, b.ts, "/api/games/"+game["id"].(string)+"/moves", fmt.Sprintf(`{"player":%q,"column":%q}`, player, column)).want(t, 200, "")
	}
	browse(t, b.tab, "open the game as alan", chromedp.Navigate(proxy.URL+"/games/"+game["id"].(string)+"?as=alan"), chromedp.WaitVisible(`#board`))
	move("ada", "A")
	browse(t, b.tab, "see ada's first move", chromedp.WaitVisible(cell(0, 5, "red")))

	proxy.goAway(t)
	move("alan", "B") // from alan's other window
	proxy.comeBack()
	move("ada", "A")
	wait, cancel := context.WithTimeout(b.tab, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(wait, chromedp.WaitVisible(cell(0, 4, "red"))); err != nil {
		t.Fatalf("20s after the server came back, alan's window does not show ada's move (%v): its banner says %q", err, value(t, b.tab, chromedp.Text(`#banner`)))
	}
	if banner := value(t, b.tab, chromedp.Text(`#banner`)); banner != "alan to play (you)" || count(t, b.tab, "#log li") != 4 {
		t.Errorf("alan's window says %q with %d events, want alan to play (you) with 4", banner, count(t, b.tab, "#log li"))
	}
}

// TestBrowserLiveTailShowsWhySubscriptionFails tombstones the stream that
// a tail follows: its next subscription fails, and the server says why in
// the stream before it ends it. The tail must show that, not a lost
// connection, while it tries again.
func TestBrowserLiveTailShowsWhySubscriptionFails(t *testing.T) {
	b, proxy := tailBehindProxy(t, "/tail?stream=order-1", "E")
	do(t, b.ts, req{method: "DELETE", path: "/api/streams/order-1?tombstone=true"}).want(t, 204, "")
	// The tail reconnects 2 s later, and is told, and again 2 s after
	// that: over two tries, the status says why nearly all the time (it
	// says Live for the moment between a connection and its error).
	proxy.CloseClientConnections()
	time.Sleep(2500 * time.Millisecond)
	const samples = 40
	shown, statuses := 0, map[string]int{}
	for range samples {
		time.Sleep(100 * time.Millisecond)
		status := value(t, b.tab, chromedp.Text(`#tail-status`))
		statuses[status]++
		if strings.Contains(status, "tombstoned") {
			shown++
		}
	}
	if shown < samples*3/4 {
		t.Errorf("the tail's status told why in %d of %d samples: %v", shown, samples, statuses)
	}
}

// TestBrowserLiveTailStopsWhenStreamTombstoned: a stream's tail whose
// stream is tombstoned is told so by the server, shows why, and stops:
// the stream can never have events again, and subscribing again and
// again would only be told the same.
func TestBrowserLiveTailStopsWhenStreamTombstoned(t *testing.T) {
	b, proxy := tailBehindProxy(t, "/tail?stream=order-1", "E")
	do(t, b.ts, req{method: "DELETE", path: "/api/streams/order-1?tombstone=true"}).want(t, 204, "")
	if _, err := chromedp.Run(b.tab, chromedp.Poll[bool](`document.getElementById("tail-status").textContent.includes("tombstoned")`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the tail does not say why it stopped 10 s after the tombstone (%v): it says %q", err, value(t, b.tab, chromedp.Text(`#tail-status`)))
	}
	before := proxy.subscribes.Load()
	time.Sleep(6 * time.Second)
	if n := proxy.subscribes.Load() - before; n != 0 {
		t.Errorf("the tail of a tombstoned stream subscribed %d more times in 6 s", n)
	}
	if status := value(t, b.tab, chromedp.Text(`#tail-status`)); !strings.Contains(status, "tombstoned") {
		t.Errorf("the tail's status says %q, want why it stopped", status)
	}
}

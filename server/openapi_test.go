package server

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle/memory"
)

type openAPIDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas    map[string]map[string]any `json:"schemas"`
		Parameters map[string]struct {
			Name    string `json:"name"`
			In      string `json:"in"`
			Example any    `json:"example"`
		} `json:"parameters"`
	} `json:"components"`
}

type operation struct {
	RequestBody struct {
		Content map[string]struct {
			Schema  map[string]any `json:"schema"`
			Example any            `json:"example"`
		} `json:"content"`
	} `json:"requestBody"`
}

// TestOpenAPIMatchesRoutes checks that the document describes exactly the
// API routes the server serves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s, ts := newTestServer(t, nil, nil)
	var doc openAPIDoc
	if err := json.Unmarshal([]byte(get(t, ts, "/api/openapi.json").want(t, 200, "").body), &doc); err != nil {
		t.Fatal(err)
	}
	var served, documented []string
	for _, rt := range s.routes {
		if rt.api() {
			served = append(served, rt.method+" "+rt.pattern)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(served)
	slices.Sort(documented)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is served but not in the OpenAPI document", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("%s is in the OpenAPI document but not served", r)
		}
	}
	if len(served) < 15 {
		t.Errorf("only %d API routes found: %v", len(served), served)
	}
}

// TestOpenAPIListsEveryStatusServed drives the handlers into the
// refusals they give and checks that the document lists each one's status
// for its operation: those that come from a route's access (401, 403) or
// body (413, 415), on every route that has one, and those of particular
// operations. The statuses that any operation can answer are left out,
// as the document leaves them out (docs/server.md names them): 421
// (LoopbackOnly), 500, and 503 (a timeout, a closed store).
func TestOpenAPIListsEveryStatusServed(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	s, open := newTestServer(t, nil, nil)
	_, authed := newTestServer(t, nil, &Options{Users: testUsers(t)})
	_, readOnly := newTestServer(t, nil, &Options{ReadOnly: true})
	_, small := newTestServer(t, nil, &Options{MaxBodyBytes: 1024})
	_, plain := newTestServer(t, plainStore{memory.New(nil)}, nil)
	post(t, open, "/api/streams/gone", appendBody(`"any"`, "E", 1)).want(t, 201, "")
	do(t, open, req{method: "DELETE", path: "/api/streams/gone?tombstone=true"}).want(t, 204, "")

	check := func(name, op string, ts *httptest.Server, r req, want int) {
		t.Helper()
		// The refusals come before the stream or the game is looked at.
		r.path = strings.NewReplacer("{stream}", "s", "{id}", "0b8e3c4e-1d2a-4c77-9a52-0c8f0f1d2e3a").Replace(r.path)
		a := do(t, ts, r)
		if a.status != want {
			t.Errorf("%s: %s answers %d, want %d\n%s", name, op, a.status, want, a.body)
			return
		}
		method, path, _ := strings.Cut(op, " ")
		var o struct {
			Responses map[string]json.RawMessage `json:"responses"`
		}
		if err := json.Unmarshal(doc.Paths[path][strings.ToLower(method)], &o); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if _, ok := o.Responses[fmt.Sprint(a.status)]; !ok {
			t.Errorf("%s: %s answers %d (%s), which the OpenAPI document does not list", name, op, a.status, a.json(t)["code"])
		}
	}
	bodies := 0
	for _, rt := range s.routes {
		if !rt.api() {
			continue
		}
		op := rt.method + " " + rt.pattern
		body := ""
		if rt.method == "POST" || rt.method == "PUT" {
			body = `{"playerOne":"` + strings.Repeat("x", 2000) + `"}`
			check("a body over the limit", op, small, req{method: rt.method, path: rt.pattern, body: body}, 413)
			check("a body that is not JSON", op, open, req{method: rt.method, path: rt.pattern, body: "a=b",
				header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415)
			bodies++
		}
		// The routes that read their query refuse a parameter they do
		// not take, or a query that cannot be read; the others, which
		// read none, ignore it.
		if !slices.Contains([]string{"/health/live", "/health/ready", "/metrics", "/api/openapi.json"}, rt.pattern) {
			check("an unknown query parameter", op, open, req{method: rt.method, path: rt.pattern + "?colour=red", body: body}, 400)
		}
		if rt.access != public {
			check("no user", op, authed, req{method: rt.method, path: rt.pattern, body: body}, 401)
			check("read-only", op, readOnly, req{method: rt.method, path: rt.pattern, body: body}, 403)
		}
	}
	if bodies != 4 {
		t.Errorf("%d routes take a body, want 4", bodies)
	}
	for _, c := range []struct {
		name, op string
		ts       *httptest.Server
		r        req
		want     int
	}{
		{"a tombstoned stream", "GET /api/streams/{stream}", open, req{path: "/api/streams/gone"}, 410},
		{"a stream that does not exist", "DELETE /api/streams/{stream}", open, req{method: "DELETE", path: "/api/streams/nope"}, 404},
		{"a tombstoned stream", "DELETE /api/streams/{stream}", open, req{method: "DELETE", path: "/api/streams/gone"}, 410},
		{"a store that cannot delete", "DELETE /api/streams/{stream}", plain, req{method: "DELETE", path: "/api/streams/{stream}"}, 501},
		{"a tombstoned stream", "GET /api/streams/{stream}/metadata", open, req{path: "/api/streams/gone/metadata"}, 410},
		{"a store without metadata", "GET /api/streams/{stream}/metadata", plain, req{path: "/api/streams/{stream}/metadata"}, 501},
		{"a store without metadata", "PUT /api/streams/{stream}/metadata", plain, req{method: "PUT", path: "/api/streams/{stream}/metadata", body: `{"maxCount":3}`}, 501},
	} {
		check(c.name, c.op, c.ts, c.r, c.want)
	}
}

// TestOpenAPIExamples validates each example request body against its
// schema, then sends it to the server, which must accept it.
func TestOpenAPIExamples(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	// Games first: the move's example needs a game to move in.
	order := []string{"POST /api/games", "POST /api/streams/{stream}", "PUT /api/streams/{stream}/metadata", "POST /api/games/{id}/moves"}
	examples := 0
	vars := map[string]string{}
	for p := range doc.Components.Parameters {
		par := doc.Components.Parameters[p]
		if par.In == "path" {
			vars[par.Name] = fmt.Sprint(par.Example)
		}
	}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			body, ok := op.RequestBody.Content["application/json"]
			if !ok {
				continue
			}
			if body.Example == nil {
				t.Errorf("%s %s takes a body but has no example", method, path)
				continue
			}
			if !slices.Contains(order, strings.ToUpper(method)+" "+path) {
				t.Errorf("%s %s has an example this test does not send", method, path)
			}
		}
	}
	for _, key := range order {
		method, path, _ := strings.Cut(key, " ")
		var op operation
		if err := json.Unmarshal(doc.Paths[path][strings.ToLower(method)], &op); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		body := op.RequestBody.Content["application/json"]
		if errs := validate(doc, body.Schema, body.Example, "body"); len(errs) > 0 {
			t.Errorf("%s: the example does not match its schema: %v", key, errs)
		}
		url := regexp.MustCompile(`\{(\w+)\}`).ReplaceAllStringFunc(path, func(v string) string { return vars[v[1:len(v)-1]] })
		b, _ := json.Marshal(body.Example)
		a := do(t, ts, req{method: method, path: url, body: string(b)})
		if a.status >= 300 {
			t.Errorf("%s %s with its example: %d %s", method, url, a.status, a.body)
		}
		if key == "POST /api/games" {
			vars["id"] = a.json(t)["id"].(string)
		}
		examples++
	}
	if examples != len(order) {
		t.Errorf("sent %d examples, want %d", examples, len(order))
	}
}

// validate checks v against a JSON schema, as far as the document uses
// schemas: $ref, type, required, properties, additionalProperties, items,
// enum, oneOf and minItems.
func validate(doc openAPIDoc, schema map[string]any, v any, at string) []string {
	if ref, ok := schema["$ref"].(string); ok {
		return validate(doc, doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")], v, at)
	}
	if one, ok := schema["oneOf"].([]any); ok {
		for _, alt := range one {
			if len(validate(doc, alt.(map[string]any), v, at)) == 0 {
				return nil
			}
		}
		return []string{at + ": matches none of oneOf"}
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		return []string{fmt.Sprintf("%s: %v is not one of %v", at, v, enum)}
	}
	var errs []string
	switch schema["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return []string{at + ": not an object"}
		}
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asSlice(schema["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: %s is required", at, r))
			}
		}
		for k, val := range obj {
			p, ok := props[k].(map[string]any)
			switch {
			case ok:
				errs = append(errs, validate(doc, p, val, at+"."+k)...)
			case schema["additionalProperties"] == false:
				errs = append(errs, fmt.Sprintf("%s: %s is not a property", at, k))
			default:
				if ap, ok := schema["additionalProperties"].(map[string]any); ok {
					errs = append(errs, validate(doc, ap, val, at+"."+k)...)
				}
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return []string{at + ": not an array"}
		}
		if min, ok := schema["minItems"].(float64); ok && float64(len(arr)) < min {
			errs = append(errs, fmt.Sprintf("%s: fewer than %v items", at, min))
		}
		if items, ok := schema["items"].(map[string]any); ok {
			for i, it := range arr {
				errs = append(errs, validate(doc, items, it, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case "string":
		if _, ok := v.(string); !ok {
			errs = append(errs, at+": not a string")
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			errs = append(errs, at+": not an integer")
		}
	}
	return errs
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func TestValidateCatchesBadExamples(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	schema := map[string]any{"$ref": "#/components/schemas/AppendRequest"}
	for _, bad := range []string{
		`{"events":[{"id":"x","type":"E"}]}`,
		`{"expectedRevision":"sometime","events":[{"id":"x","type":"E"}]}`,
		`{"expectedRevision":"any","events":[]}`,
		`{"expectedRevision":"any","events":[{"id":"x"}]}`,
		`{"expectedRevision":"any","events":[{"id":"x","type":"E","colour":1}]}`,
	} {
		var v any
		json.Unmarshal([]byte(bad), &v)
		if len(validate(doc, schema, v, "body")) == 0 {
			t.Errorf("the validator accepts %s", bad)
		}
	}
}

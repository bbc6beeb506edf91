package server

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
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

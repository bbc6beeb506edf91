package server

import (
	_ "embed"
	"net/http"
)

// openAPI describes the API. It is written by hand, and a test checks it
// against the routes the server serves, both ways, and sends its example
// requests to the server.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(openAPI)
}

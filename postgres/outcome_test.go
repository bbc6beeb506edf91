package postgres

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestUnknownOutcomeLocalizedSeverity: a server whose lc_messages is not
// English sends the severity of its errors translated, and the English
// one apart (SeverityUnlocalized). A FATAL error must leave the outcome of
// a batch unknown in every language, or an append whose connection ended
// during its commit on a German server says that nothing was written.
func TestUnknownOutcomeLocalizedSeverity(t *testing.T) {
	for _, e := range []*pgconn.PgError{
		{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01"},
		{Severity: "SCHWERWIEGEND", SeverityUnlocalized: "FATAL", Code: "57P01"},
		{Severity: "PANIK", SeverityUnlocalized: "PANIC", Code: "XX000"},
	} {
		if err := unknownOutcome(e); !strings.Contains(err.Error(), "may have been written") {
			t.Errorf("a %s (%s) error gives %q, which says that nothing was written", e.Severity, e.SeverityUnlocalized, err)
		}
	}
	refusal := &pgconn.PgError{Severity: "FEHLER", SeverityUnlocalized: "ERROR", Code: "23505"}
	if err := unknownOutcome(refusal); strings.Contains(err.Error(), "may have been written") {
		t.Errorf("an ERROR gives %q: the server answered, so nothing was written", err)
	}
}

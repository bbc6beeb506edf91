package clitest_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/chronicle-es/chronicle/internal/cli/clitest"
)

// TestRun runs a shell that reads its input, prints an environment
// variable given and exits 3: a status other than 0 is what the program
// did, not a failure of the test.
func TestRun(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to run:", err)
	}
	got := clitest.Run(t, sh, strings.NewReader("in"), []string{"CLITEST=env"},
		"-c", `cat; echo " $CLITEST"; echo err >&2; exit 3`)
	if want := (clitest.Result{Code: 3, Stdout: "in env\n", Stderr: "err\n"}); got != want {
		t.Errorf("Run = %+v, want %+v", got, want)
	}
	if got := clitest.Run(t, sh, nil, nil, "-c", "cat"); got != (clitest.Result{}) {
		t.Errorf("Run without input = %+v, want exit 0 and nothing printed", got)
	}
}

package clitest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Main is the TestMain of a program's tests that run it as a user does,
// a process for each command line: it builds the program of the package
// under test, once for all the tests, into a temporary directory as
// name, sets *bin to its path, runs the tests, removes the directory and
// exits with the tests' status.
func Main(m *testing.M, name string, bin *string) {
	dir, err := os.MkdirTemp("", name+"-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, name)
	out, err := exec.Command("go", "build", "-o", *bin, ".").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Result is what one run of a program did.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs the program bin with args, stdin as its standard input (none
// when nil) and env added to its environment, such as the data
// directory that holds its default store, and returns what it did. It
// fails t when the program cannot be run; an exit status other than 0 is
// what the program did.
func Run(t testing.TB, bin string, stdin io.Reader, env []string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return Result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

// Package clitest holds what the tests of Chronicle's command-line
// programs share.
package clitest

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// StopWhileWaiting runs the program bin with "--store URL" and args,
// where URL names a PostgreSQL server that accepts the connection and
// never answers, so that the command waits for its store. Once it has
// connected, and so handles signals, StopWhileWaiting sends it sig and
// returns its exit status and standard error.
func StopWhileWaiting(t *testing.T, bin string, sig os.Signal, args ...string) (code int, stderr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	store := "postgres://u@" + ln.Addr().String() + "/db?sslmode=disable&connect_timeout=60"
	cmd := exec.Command(bin, append([]string{"--store", store}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+t.TempDir())
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s after %v: %v", bin, sig, err)
	}
	return cmd.ProcessState.ExitCode(), errOut.String()
}

// StopsOnSignals runs the program bin with args, as [StopWhileWaiting]
// does, once for each signal that the programs catch, and checks that it
// exits with the status that shells report for it, 128 plus the signal's
// number (130 for SIGINT, Ctrl-C, and 143 for SIGTERM), and prints on
// standard error no more than prefix, such as "blog: ", and what stopped
// it before it was done.
func StopsOnSignals(t *testing.T, bin, prefix string, args ...string) {
	t.Helper()
	for _, tt := range []struct {
		sig  syscall.Signal
		code int
		says string
	}{
		{syscall.SIGINT, 130, "interrupted (Ctrl-C, SIGINT) before it was done\n"},
		{syscall.SIGTERM, 143, "stopped by SIGTERM before it was done\n"},
	} {
		t.Run(tt.sig.String(), func(t *testing.T) {
			code, stderr := StopWhileWaiting(t, bin, tt.sig, args...)
			if code != tt.code || stderr != prefix+tt.says {
				t.Errorf("after %v: exit status %d, stderr %q; want %d, %q", tt.sig, code, stderr, tt.code, prefix+tt.says)
			}
		})
	}
}

package network

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestResolverExitsWhenItsStateGoes: a resolver outlives the daemon by
// design, but one whose state directory was removed (the state root
// deleted while it ran) has nothing to serve and nobody left to stop it,
// so it ends instead of staying forever.
func TestResolverExitsWhenItsStateGoes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), resolverDir)
	for _, d := range []string{resolverNets, resolverCtrs, resolverBound} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, resolverConfig), []byte(`{"port":53}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "resolve")
	cmd.Env = []string{envResolver + "=" + dir}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, resolverPid)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the resolver never wrote its pid file")
		}
	}
	// A network's file going is a network the resolver stops serving,
	// not its end. (One it cannot parse: it binds nothing.)
	network := filepath.Join(dir, resolverNets, "n.json")
	if err := os.WriteFile(network, []byte("not JSON"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(network); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("the resolver ended (%v) when a network's file was removed", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("resolver exited with %v, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the resolver still runs after its state directory was removed")
	}
}

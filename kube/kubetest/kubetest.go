package kubetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// harnessDir is kube/harness, found from this file's place in the tree.
func harnessDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "harness")
}

// BinDir is the directory of the harness binaries: $STACK_KUBE_BIN, else
// the cache directory that kube/harness/bindir.sh names (keyed by the tools
// module's go.mod and go.sum).
func BinDir() (string, error) {
	if d := os.Getenv("STACK_KUBE_BIN"); d != "" {
		return d, nil
	}
	var sum bytes.Buffer
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(harnessDir(), "tools", f))
		if err != nil {
			return "", err
		}
		sum.Write(b)
	}
	h := sha256.Sum256(sum.Bytes())
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "stack-kube", hex.EncodeToString(h[:])[:12]), nil
}

// Binaries are the programs the control plane runs.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// missing returns why the control plane cannot start, or "".
func missing() string {
	dir, err := BinDir()
	if err != nil {
		return "harness binaries: " + err.Error()
	}
	var gone []string
	for _, b := range Binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			gone = append(gone, b)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "kwok-stages.yaml")); err != nil || fi.Size() == 0 {
		gone = append(gone, "kwok-stages.yaml")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		gone = append(gone, "openssl (PATH)")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		gone = append(gone, "curl (PATH)")
	}
	if len(gone) == 0 {
		return ""
	}
	return "no " + strings.Join(gone, ", ") + " in " + dir + ": run kube/harness/build.sh"
}

// Require skips t when the control plane cannot start, and fails it
// instead when CI=true: CI must run these tests, never skip them.
func Require(t testing.TB) {
	t.Helper()
	why := missing()
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: the API-server tests must run: %s", why)
	}
	t.Skip(why)
}

// ControlPlane is a running throwaway control plane.
type ControlPlane struct {
	// Kubeconfig is the path of a kubeconfig with a cluster-admin token.
	Kubeconfig string
	// Dir holds its state and logs (*.log).
	Dir string
}

// Start starts a control plane for t (see [Require]) and stops it, every
// process it started, when t ends; its state goes with t's temporary
// directory.
func Start(t testing.TB) *ControlPlane {
	t.Helper()
	Require(t)
	bin, _ := BinDir()
	dir := t.TempDir()
	script := filepath.Join(harnessDir(), "controlplane.sh")
	cmd := exec.Command("bash", script, "start", dir)
	cmd.Env = append(os.Environ(), "STACK_KUBE_BIN="+bin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Cleanup(func() {
		stop := exec.Command("bash", script, "stop", dir)
		stop.Env = cmd.Env
		if out, err := stop.CombinedOutput(); err != nil {
			t.Errorf("stop control plane: %v: %s", err, out)
		}
		if t.Failed() {
			for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
				b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
				t.Logf("--- %s.log (last 2000 bytes) ---\n%s", name, tail(b, 2000))
			}
		}
	})
	if err != nil {
		t.Fatalf("start control plane: %v: %s", err, stderr.Bytes())
	}
	return &ControlPlane{Kubeconfig: strings.TrimSpace(string(out)), Dir: dir}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

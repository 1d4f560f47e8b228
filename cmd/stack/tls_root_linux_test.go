package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stack-dev/stack/api"
	"github.com/stack-dev/stack/internal/testutil"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate, PEM
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, file: filepath.Join(dir, name+"-ca.pem")}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue writes a certificate signed by ca and its key under dir, named
// name-cert.pem and name-key.pem, for a server (127.0.0.1) or a client.
func (ca *testCA) issue(t *testing.T, dir, name string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a TCP port of 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestRootRemoteDaemonTLS runs a daemon on a unix socket and on TCP with
// mutual TLS, and talks to it from the CLI with the right certificates,
// without a client certificate, with one of another CA, and while
// trusting another CA.
func TestRootRemoteDaemonTLS(t *testing.T) {
	testutil.RequiresRoot(t)
	dir := t.TempDir()
	t.Setenv("STACK_CERT_PATH", t.TempDir()) // no default certificates
	ca := newTestCA(t, dir, "stack")
	serverCert, serverKey := ca.issue(t, dir, "server", true)
	clientCert, clientKey := ca.issue(t, dir, "client", false)
	other := newTestCA(t, dir, "other")
	otherCert, otherKey := other.issue(t, dir, "intruder", false)

	sock := "unix://" + filepath.Join(dir, "stack.sock")
	tcp := "tcp://127.0.0.1:" + strconv.Itoa(freePort(t))
	root := filepath.Join(dir, "root")
	t.Setenv("STACK_HOST", sock)
	t.Setenv("STACK_STATE_ROOT", root)

	code, _, errOut := runCLI(t, dir, "daemon", "-H", tcp)
	if code != 2 || !strings.Contains(errOut, "plain TCP is never served") {
		t.Errorf("daemon on tcp without TLS files: code %d, stderr %q", code, errOut)
	}
	// The failed start released the state root for the daemon below.
	lock, err := os.Open(filepath.Join(root, "daemon.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("a daemon that failed to listen still holds the state root: %v", err)
	}
	lock.Close()

	// The test binary is the daemon (TestMain).
	daemonCmd := exec.Command(os.Args[0], "daemon", "-H", sock, "-H", tcp,
		"--tlscacert", ca.file, "--tlscert", serverCert, "--tlskey", serverKey)
	var log strings.Builder
	daemonCmd.Stdout, daemonCmd.Stderr = &log, &log
	if err := daemonCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		daemonCmd.Process.Signal(syscall.SIGTERM)
		daemonCmd.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", log.String())
		}
	})
	local, err := api.NewClient(sock, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		var v api.VersionInfo
		err := local.Do(t.Context(), "GET", "/version", nil, &v)
		if err == nil {
			break
		}
		if i == 1500 {
			t.Fatalf("the daemon did not answer on %s: %v", sock, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	tlsFlags := []string{"-H", tcp, "--tlscacert", ca.file, "--tlscert", clientCert, "--tlskey", clientKey}
	code, out, errOut := runCLI(t, dir, append(tlsFlags, "version")...)
	if code != 0 || !strings.Contains(out, "Server:\n version: ") {
		t.Errorf("version over tls: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, dir, append(tlsFlags, "info")...)
	if code != 0 || !strings.Contains(out, "Server Version: ") || !strings.Contains(out, "State Root: "+root) {
		t.Errorf("info over tls: code %d, stdout %q, stderr %q", code, out, errOut)
	}

	// The default certificates come from STACK_CERT_PATH.
	certDir := t.TempDir()
	for src, dst := range map[string]string{ca.file: "ca.pem", clientCert: "cert.pem", clientKey: "key.pem"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(certDir, dst), data)
	}
	t.Setenv("STACK_CERT_PATH", certDir)
	code, out, errOut = runCLI(t, dir, "-H", tcp, "info")
	if code != 0 || !strings.Contains(out, "Server Version: ") {
		t.Errorf("info with certificates of STACK_CERT_PATH: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Setenv("STACK_CERT_PATH", t.TempDir())

	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"no client certificate", []string{"--tlscacert", ca.file},
			"the daemon rejected the client certificate"},
		{"client certificate of another CA", []string{"--tlscacert", ca.file, "--tlscert", otherCert, "--tlskey", otherKey},
			"the daemon rejected the client certificate"},
		{"daemon certificate of another CA", []string{"--tlscacert", other.file, "--tlscert", clientCert, "--tlskey", clientKey},
			"the daemon's certificate is not signed by the CA of --tlscacert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, dir, append(append([]string{"-H", tcp}, tc.flags...), "info")...)
			if code != 1 || !strings.HasPrefix(errOut, "stack: remote daemon "+tcp+" is unreachable: ") ||
				!strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("code %d, stderr %q; want one line with %q", code, errOut, tc.want)
			}
		})
	}

	// Go's client offers no certificate the daemon's CA list does not
	// name; one that insists on a foreign certificate is refused too.
	intruder, err := tls.LoadX509KeyPair(otherCert, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(tcp, "tcp://"), &tls.Config{
		RootCAs:              pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &intruder, nil },
	})
	if err == nil {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if got := tlsFailure(err); !strings.Contains(got, "the daemon rejected the client certificate") || !strings.Contains(got, "unknown certificate authority") {
		t.Errorf("a forced certificate of another CA: %v (%q)", err, got)
	}

	refused := "tcp://127.0.0.1:" + strconv.Itoa(freePort(t))
	code, _, errOut = runCLI(t, dir, "-H", refused, "--tlscacert", ca.file, "--tlscert", clientCert, "--tlskey", clientKey, "info")
	if code != 1 || !strings.Contains(errOut, "connection refused") || strings.Contains(errOut, "started the daemon") {
		t.Errorf("nothing on %s: code %d, stderr %q", refused, code, errOut)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

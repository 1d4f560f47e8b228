package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// TestRootTestcontainers starts a container the way a Go test suite
// starts its database: testcontainers-go, through stack's Docker API,
// with a published port and a wait for a line of its log, then talks to
// it and terminates it. Ryuk, testcontainers' reaper, is disabled: its
// image comes from Docker Hub, which this machine cannot reach, and the
// test removes what it made itself.
func TestRootTestcontainers(t *testing.T) {
	de := newDockerEnv(t)
	t.Setenv("DOCKER_HOST", de.host)
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	c, err := testcontainers.Run(ctx, "busybox",
		testcontainers.WithCmd("sh", "-c", "mkdir -p /www && echo hello from testcontainers > /www/index.html && echo server ready && exec httpd -f -p 8080 -h /www"),
		testcontainers.WithExposedPorts("8080/tcp"),
		testcontainers.WithWaitStrategy(wait.ForLog("server ready").WithStartupTimeout(30*time.Second)),
		testcontainers.WithLabels(map[string]string{"suite": "e2e"}),
	)
	if err != nil {
		t.Fatalf("start a container with testcontainers: %v", err)
	}
	defer func() {
		if err := testcontainers.TerminateContainer(c); err != nil {
			t.Errorf("terminate: %v", err)
		}
		if left := de.out("ps", "-aq"); left != "" {
			t.Errorf("terminate left containers: %q", left)
		}
	}()
	host, err := c.Host(ctx)
	if err != nil {
		t.Fatal(err)
	}
	port, err := c.MappedPort(ctx, "8080/tcp")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(fmt.Sprintf("http://%s:%s/", host, port.Port()))
	if err != nil {
		t.Fatalf("GET the mapped port: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello from testcontainers\n" {
		t.Errorf("GET the mapped port: %q", body)
	}
	logs, err := c.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(logs)
	logs.Close()
	if !strings.Contains(string(out), "server ready") {
		t.Errorf("container logs: %q", out)
	}
	code, reader, err := c.Exec(ctx, []string{"cat", "/www/index.html"})
	if err != nil || code != 0 {
		t.Fatalf("exec: %d, %v", code, err)
	}
	got, _ := io.ReadAll(reader)
	if !strings.Contains(string(got), "hello from testcontainers") {
		t.Errorf("exec output: %q", got)
	}
}

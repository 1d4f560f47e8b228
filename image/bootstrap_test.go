package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestMirrorIn(t *testing.T) {
	tests := []struct {
		name, content string
		deb822        bool
		want          string
	}{
		{name: "deb822", deb822: true, want: "http://deb.debian.org/debian", content: "Types: deb\nURIs: http://deb.debian.org/debian/\nSuites: bookworm\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n"},
		{name: "security first", deb822: true, want: "http://mirror.example/debian", content: "URIs: http://security.debian.org/debian-security\n\nURIs: http://mirror.example/debian\n"},
		{name: "one-line with options", want: "http://ftp.de.debian.org/debian", content: "# deb http://old/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://ftp.de.debian.org/debian bookworm main\n"},
		{name: "deb-src only", want: "", content: "deb-src http://deb.debian.org/debian bookworm main\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mirrorIn(tt.content, tt.deb822); got != tt.want {
				t.Errorf("mirrorIn = %q, want %q", got, tt.want)
			}
		})
	}
}

func staticBusybox(t *testing.T) string {
	t.Helper()
	if err := checkStatic("/bin/busybox"); err != nil {
		t.Skipf("no static /bin/busybox (apt-get install busybox-static): %v", err)
	}
	return "/bin/busybox"
}

// TestBusyboxLayer checks what examples/hello relies on: the applets, the
// users, a sticky /tmp and the web page.
func TestBusyboxLayer(t *testing.T) {
	bin := staticBusybox(t)
	layer, _, err := busyboxLayer(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*tar.Header{}
	content := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d, want root", h.Name, h.Uid, h.Gid)
		}
		got[h.Name] = h
		b, _ := io.ReadAll(tr)
		content[h.Name] = string(b)
	}
	for _, name := range []string{"bin/sh", "usr/bin/wget", "usr/sbin/httpd", "bin/ls"} {
		h := got[name]
		if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/bin/busybox" {
			t.Errorf("%s: %+v, want a link to /bin/busybox", name, h)
		}
	}
	if h := got["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp/: %+v, want mode 1777", h)
	}
	if h := got["bin/busybox"]; h == nil || h.Mode != 0o755 || h.Typeflag != tar.TypeReg {
		t.Errorf("bin/busybox: %+v", h)
	}
	if content["var/www/index.html"] != "hello from busybox\n" {
		t.Errorf("index.html: %q", content["var/www/index.html"])
	}
	for file, want := range map[string]string{"etc/passwd": "nobody:x:65534:65534:", "etc/group": "nobody:x:65534:"} {
		if !bytes.Contains([]byte(content[file]), []byte(want)) || !bytes.HasPrefix([]byte(content[file]), []byte("root:x:0:")) {
			t.Errorf("%s: %q", file, content[file])
		}
	}
}

// TestBootstrapBusybox stores the image twice: the same binary gives the
// same image.
func TestBootstrapBusybox(t *testing.T) {
	staticBusybox(t)
	ctx := context.Background()
	s, err := NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := Bootstrap(ctx, s, "busybox", BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Bootstrap(ctx, s, "busybox:latest", BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || len(a.Names) != 1 || a.Names[0] != "docker.io/library/busybox:latest" {
		t.Errorf("bootstraps %+v and %+v differ", a, b)
	}
	in, err := s.Inspect(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Config.Cmd) != 1 || in.Config.Cmd[0] != "sh" || len(in.RootFS.DiffIDs) != 1 {
		t.Errorf("config %+v, rootfs %+v", in.Config, in.RootFS)
	}
}

func TestBootstrapErrors(t *testing.T) {
	s, err := NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Bootstrap(context.Background(), s, "nginx:1.25", BootstrapOptions{}); err == nil {
		t.Error("bootstrap of nginx succeeded")
	}
	if _, err := Bootstrap(context.Background(), s, "busybox", BootstrapOptions{Busybox: "/nonexistent/busybox"}); err == nil ||
		!bytes.Contains([]byte(err.Error()), []byte("apt-get install busybox-static")) {
		t.Errorf("bootstrap with no busybox: %v", err)
	}
}

// TestImportRootfsRecordPadding imports a tar padded to a 10 KiB record,
// as GNU tar (and so mmdebstrap) writes them: the diffID Create records
// must cover the padding, as the unpacker's check does.
func TestImportRootfsRecordPadding(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	buf.Write(make([]byte, 10240-buf.Len()%10240))
	want := digest.FromBytes(buf.Bytes())
	s, err := NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportRootfs(context.Background(), "padded", RootfsOptions{Tar: &buf}); err != nil {
		t.Fatal(err)
	}
	in, err := s.Inspect(context.Background(), "padded")
	if err != nil {
		t.Fatal(err)
	}
	if in.RootFS.DiffIDs[0] != want {
		t.Errorf("diffID %s, want %s (the digest of every byte)", in.RootFS.DiffIDs[0], want)
	}
}

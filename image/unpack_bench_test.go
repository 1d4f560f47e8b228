package image

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// benchLayer writes a ~200 MB layer tar of mixed content: many small
// files (configs, scripts), medium files, a few large ones, symlinks and
// hard links, across nested directories.
func benchLayer(b *testing.B, dir string) (string, int64) {
	b.Helper()
	p := filepath.Join(dir, "layer.tar")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	rng := rand.New(rand.NewPCG(1, 2))
	chunk := make([]byte, 8<<20)
	for i := range chunk {
		chunk[i] = byte(rng.Uint32())
	}
	var total int64
	add := func(name string, size int) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(size)}); err != nil {
			b.Fatal(err)
		}
		for left := size; left > 0; {
			n := min(left, len(chunk))
			tw.Write(chunk[:n])
			left -= n
		}
		total += int64(size)
	}
	for d := range 100 {
		dn := fmt.Sprintf("usr/share/pkg%03d/", d)
		tw.WriteHeader(&tar.Header{Name: dn, Typeflag: tar.TypeDir, Mode: 0o755})
		for i := range 150 {
			add(fmt.Sprintf("%sfile%03d.txt", dn, i), 256+rng.IntN(8<<10))
		}
		tw.WriteHeader(&tar.Header{Name: dn + "link", Typeflag: tar.TypeSymlink, Linkname: "file000.txt"})
		tw.WriteHeader(&tar.Header{Name: dn + "hard", Typeflag: tar.TypeLink, Linkname: dn + "file001.txt"})
	}
	tw.WriteHeader(&tar.Header{Name: "usr/lib/", Typeflag: tar.TypeDir, Mode: 0o755})
	for i := range 200 {
		add(fmt.Sprintf("usr/lib/lib%03d.so", i), 64<<10+rng.IntN(512<<10))
	}
	for i := range 4 {
		add(fmt.Sprintf("usr/lib/big%d.bin", i), 24<<20)
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	fi, _ := f.Stat()
	return p, fi.Size()
}

// BenchmarkUnpackLayer measures unpacking a large uncompressed layer,
// and tar -x of the same file as the reference.
func BenchmarkUnpackLayer(b *testing.B) {
	dir := b.TempDir()
	layer, size := benchLayer(b, dir)
	data, err := os.ReadFile(layer)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("stack", func(b *testing.B) {
		b.SetBytes(size)
		for i := range b.N {
			out := filepath.Join(dir, fmt.Sprint("stack-", i))
			os.Mkdir(out, 0o755)
			if _, err := unpackLayer(context.Background(), out, bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.RemoveAll(out)
			b.StartTimer()
		}
	})
	b.Run("tar-x", func(b *testing.B) {
		tarBin, err := exec.LookPath("tar")
		if err != nil {
			b.Skip("no tar")
		}
		b.SetBytes(size)
		for i := range b.N {
			out := filepath.Join(dir, fmt.Sprint("tar-", i))
			os.Mkdir(out, 0o755)
			cmd := exec.Command(tarBin, "-x", "-f", layer, "-C", out, "--same-owner", "-p", "--xattrs")
			if o, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("tar: %v: %s", err, o)
			}
			b.StopTimer()
			os.RemoveAll(out)
			b.StartTimer()
		}
	})
}

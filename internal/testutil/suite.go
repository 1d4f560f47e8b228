package testutil

import (
	"bufio"
	"os"
	"strings"
)

// SuiteTempDir gives a test binary a TMPDIR of its own, so every t.TempDir
// of the suite lands under it and a leak check after the suite sees this
// package's mounts only, not those of other packages' tests running on the
// same machine at the same time. The caller removes the directory.
func SuiteTempDir(name string) (string, error) {
	dir, err := os.MkdirTemp("", name+"-")
	if err != nil {
		return "", err
	}
	if err := os.Setenv("TMPDIR", dir); err != nil {
		os.Remove(dir)
		return "", err
	}
	return dir, nil
}

// MountsUnder lists the mount points under prefix whose filesystem type is
// fstype ("" for any), from this process's mount table.
func MountsUnder(prefix, fstype string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) <= 4 || !strings.HasPrefix(fields[4], prefix) {
			continue
		}
		if fstype != "" {
			_, post, ok := strings.Cut(line, " - ")
			if !ok || !strings.HasPrefix(post, fstype+" ") {
				continue
			}
		}
		out = append(out, fields[4])
	}
	return out
}

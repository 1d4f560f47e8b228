package daemon

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func openTestRecords(t *testing.T, root string) *recordStore {
	t.Helper()
	s, err := loadRecords(root, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRecordUpdatesSerialized: concurrent updates of one record each see
// the one before: none is lost, in memory or on disk.
func TestRecordUpdatesSerialized(t *testing.T) {
	root := t.TempDir()
	s := openTestRecords(t, root)
	if err := s.put(&record{ID: "abcd", Project: "p", Name: "p-web-1", Service: "web"}, false); err != nil {
		t.Fatal(err)
	}
	const writers, each = 16, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, err := s.update("p", "p-web-1", w%2 == 0, func(r *record) error {
					r.RestartCount++
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := s.list("p")[0].RestartCount; got != writers*each {
		t.Errorf("in memory: %d updates, want %d", got, writers*each)
	}
	if got := openTestRecords(t, root).list("p")[0].RestartCount; got != writers*each {
		t.Errorf("on disk: %d updates, want %d", got, writers*each)
	}
	// An update whose fn fails changes nothing.
	_, err := s.update("p", "p-web-1", true, func(r *record) error {
		r.RestartCount = 0
		return errStale
	})
	if !errors.Is(err, errStale) || s.list("p")[0].RestartCount != writers*each {
		t.Errorf("a refused update: %v, restart count %d", err, s.list("p")[0].RestartCount)
	}
	// A reader's copy is its own.
	s.list("p")[0].RestartCount = -1
	if s.list("p")[0].RestartCount != writers*each {
		t.Error("a listed record changed the store's")
	}
}

// TestRecordsLoad: at load, a temporary file a crash left mid-write is
// removed, a record written before its container existed (creating) is
// found, and files that are not records of a valid name are ignored.
func TestRecordsLoad(t *testing.T) {
	root := t.TempDir()
	s := openTestRecords(t, root)
	if err := s.put(&record{ID: "c1", Project: "p", Name: "p-db-1", Service: "db", State: stateCreating}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.put(&record{ID: "c2", Project: "p", Name: "p-web-1", Service: "web"}, true); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "p")
	// What writeFileAtomic leaves when the process dies before its rename.
	tmp, err := os.CreateTemp(dir, ".p-web-1.json.tmp*")
	if err != nil {
		t.Fatal(err)
	}
	tmp.WriteString(`{"id":"c2","project":"p","name":"p-web-1","service":"web","restart_count":9`)
	tmp.Close()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "broken.json"), []byte("{"), 0o600)
	os.WriteFile(filepath.Join(dir, "other.json"), []byte(`{"id":"c3","project":"q","name":"other"}`), 0o600)
	os.MkdirAll(filepath.Join(root, "a b"), 0o700)
	os.WriteFile(filepath.Join(root, "a b", "x.json"), []byte(`{"id":"c4","project":"a b","name":"x"}`), 0o600)

	s = openTestRecords(t, root)
	if _, err := os.Stat(tmp.Name()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the temporary file is still there: %v", err)
	}
	recs := s.list("")
	if len(recs) != 2 {
		t.Fatalf("loaded %d records, want 2: %+v", len(recs), recs)
	}
	if r := recs[0]; r.Name != "p-db-1" || r.ID != "c1" || r.State != stateCreating {
		t.Errorf("the record in state creating: %+v", r)
	}
	if r := recs[1]; r.Name != "p-web-1" || r.RestartCount != 0 {
		t.Errorf("the record beside the temporary file: %+v", r)
	}
	// The loaded creating record is the store's like any other.
	if _, err := s.update("p", "p-db-1", true, func(r *record) error { r.State = stateRemoving; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.remove("p", "p-db-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.remove("p", "p-web-1"); err != nil {
		t.Fatal(err)
	}
	if left := openTestRecords(t, root).list(""); len(left) != 0 {
		t.Errorf("records left after remove: %+v", left)
	}
}

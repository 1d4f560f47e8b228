package api

// CommitRequest turns a service container's writable layer into a new
// image, as `stack commit` does.
type CommitRequest struct {
	Service string `json:"service"`
	// Index picks the replica (1-based); 0 means the first one.
	Index int `json:"index,omitempty"`
	// Ref names the new image; empty leaves it dangling.
	Ref     string `json:"ref,omitempty"`
	Comment string `json:"comment,omitempty"`
	Author  string `json:"author,omitempty"`
	// NoPause commits without freezing a running container first.
	NoPause bool `json:"no_pause,omitempty"`
}

// CommitResult answers a commit.
type CommitResult struct {
	ID string `json:"id"`
}

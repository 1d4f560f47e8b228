// Package registry moves images between stack's local store and OCI
// registries, and writes docker-save archives, through go-containerregistry.
//
// # Pulling
//
// [Pull] resolves a reference, picks the manifest of the host's platform
// from a multi-arch index, and downloads the layers the store does not
// have yet, several at a time, verifying each digest as it is written. The
// manifest and config are stored byte for byte as the registry served
// them, so an image keeps its digests through pull, push and save.
//
// # Credentials
//
// Credentials come from [Options.Keychain]; the default is
// authn.DefaultKeychain, which reads ~/.docker/config.json (or
// $DOCKER_CONFIG) and its credential helpers, as `docker login` leaves
// them.
//
// # Errors
//
// Errors wrap an errdefs class: a missing repository or tag is
// errdefs.ErrNotFound, refused credentials [ErrUnauthorized] (and
// errdefs.ErrFailedPrecondition), a registry that cannot be reached
// [ErrNoRegistry] (and errdefs.ErrUnavailable), whose message says how to
// get an image without one.
//
// Owns: pull, push and docker-save export of stored images.
// Must not import: runtime, network, planner, spec, daemon, cmd, or
// internal/testutil.
package registry

// Package dockerapi is stack's second front door: the Docker Engine API,
// served on a socket of its own, so that the docker CLI, docker-compose,
// Testcontainers and IDEs drive stack's engine as they drive dockerd.
//
// It speaks the wire types Docker publishes (github.com/moby/moby/api)
// and turns each request into a call of the daemon's service layer, the
// same one the stack REST API calls: a container created here is an
// engine container like any other. Versions are negotiated as dockerd
// does: /_ping and /version name [APIVersion] and [MinAPIVersion], and a
// request's /vX.Y/ prefix picks the shape of what it gets back. A field
// of a request that stack does not implement is a 400 that names it,
// never silently dropped.
//
// Owns: the Docker API's routes, its wire types' translation to and
// from the daemon's typed requests and results, its error statuses, its
// stream framings (multiplexed stdout/stderr, JSON messages, hijacked
// connections) and its filters.
// Must not import: cmd, runtime, network, image or planner: it reaches
// the engine through daemon only.
package dockerapi

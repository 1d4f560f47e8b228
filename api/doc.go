// Package api defines the wire types of stack's daemon: the JSON the REST
// API speaks, which the CLI renders. Both sides share these types, so a
// field added here is added to the protocol.
//
// Owns: the versioned request and response types.
// Must not import: anything of stack's but internal/errdefs.
package api

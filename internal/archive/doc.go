// Package archive copies files as tar streams, for `stack cp`: a file or a
// directory tree packed under the name it gets at the other end, and a
// stream unpacked into a directory without any entry landing outside it.
//
// Owns: the tar format of copies between the host and a container.
// Must not import: cmd, daemon, runtime, network, image or spec.
package archive

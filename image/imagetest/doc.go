// Package imagetest is the conformance suite every image.Store
// implementation runs ([StoreSuite]), and builders of test images and
// archives (docker-save, OCI layout) made with go-containerregistry.
//
// Owns: the store conformance suite and the test image builders.
// Must not import: anything but image, internal/errdefs and
// go-containerregistry; production code must never import this package.
package imagetest

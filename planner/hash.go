package planner

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"

	"github.com/stack-dev/stack/spec"
)

// ConfigHash returns the hash of the configuration a container of service s
// is created from: the hex sha256 of the service's JSON form. A container
// records it when it is created, and [Diff] recreates a container whose
// hash differs from the service's.
//
// The fields that do not change what a single container is are left out,
// as docker compose leaves them out of its config hash: build and
// pull_policy (a new image is detected by image ID instead), scale and
// deploy.replicas (they change how many containers run), depends_on (it
// only orders startup; a recreated dependency restarts its dependents
// through [Diff]) and profiles. encoding/json writes map keys in sorted
// order, so the hash does not depend on map iteration order. The service
// name and x-* extensions are not part of the JSON form either.
func ConfigHash(s *spec.Service) string {
	c := *s
	c.Build = nil
	c.PullPolicy = ""
	c.Scale = nil
	c.DependsOn = nil
	c.Profiles = nil
	if s.Deploy != nil {
		d := *s.Deploy
		d.Replicas = nil
		c.Deploy = &d
		// deploy: {replicas: 2} alone must hash like no deploy at all.
		if reflect.ValueOf(d).IsZero() {
			c.Deploy = nil
		}
	}
	b, err := json.Marshal(&c)
	if err != nil {
		// Only a float JSON cannot hold (NaN or Inf cpus) gets here, and
		// spec's decoder rejects those; a project built in Go could still
		// hold one. Hash the error rather than panic in the daemon.
		b = []byte("unencodable service: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

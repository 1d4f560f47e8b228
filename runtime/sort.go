package runtime

import (
	"maps"
	"slices"
)

// sortedKeys returns the keys of m in order, for anything the kernel or a
// user sees.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

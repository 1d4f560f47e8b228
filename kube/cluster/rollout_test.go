package cluster

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestRolledOut is the table of rollout states of a workload.
func TestRolledOut(t *testing.T) {
	obj := func(kind string, gen, observed, replicas, updated, ready, available, total int64, cur, upd string) *unstructured.Unstructured {
		o := &unstructured.Unstructured{Object: map[string]any{
			"kind":     kind,
			"metadata": map[string]any{"generation": gen},
			"spec":     map[string]any{"replicas": replicas},
			"status": map[string]any{
				"observedGeneration": observed, "updatedReplicas": updated, "readyReplicas": ready,
				"availableReplicas": available, "replicas": total, "currentRevision": cur, "updateRevision": upd,
			},
		}}
		return o
	}
	tests := []struct {
		name string
		obj  *unstructured.Unstructured
		done bool
		why  string
	}{
		{"rolled out", obj("Deployment", 2, 2, 3, 3, 3, 3, 3, "", ""), true, ""},
		{"not observed", obj("Deployment", 3, 2, 3, 3, 3, 3, 3, "", ""), false, "generation 3 not observed yet"},
		{"updating", obj("Deployment", 2, 2, 3, 1, 3, 3, 4, "", ""), false, "1 of 3 replicas updated"},
		{"not ready", obj("Deployment", 2, 2, 3, 3, 2, 2, 3, "", ""), false, "2 of 3 replicas ready"},
		{"old replicas", obj("Deployment", 2, 2, 3, 3, 3, 3, 4, "", ""), false, "1 old replicas still running"},
		{"statefulset revision", obj("StatefulSet", 2, 2, 1, 1, 1, 1, 1, "a", "b"), false, "revision b not rolled out yet"},
		{"statefulset done", obj("StatefulSet", 2, 2, 1, 1, 1, 1, 1, "b", "b"), true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			done, why := rolledOut(tc.obj)
			if done != tc.done || why != tc.why {
				t.Errorf("rolledOut = %v, %q; want %v, %q", done, why, tc.done, tc.why)
			}
		})
	}
}

// Package cluster applies the manifests of package kube to a Kubernetes
// cluster, and deletes and shows them, through client-go: server-side
// apply with the field manager kube.FieldManager, never kubectl.
//
// # Apply
//
// [Client.Apply] applies each object in the order kube gives (namespace,
// secrets and configs, claims, services, workloads, ingresses) with
// force, so that stack owns the fields it sets; an object the cluster
// already holds as stack would write it is not changed, and so a second
// apply rolls out only the workloads whose pod templates changed. A
// namespace that was there before and does not carry the project's label
// (default, a team's) is left as it is, so that Delete does not remove it
// with everything else it holds. Apply then waits until every Deployment
// and StatefulSet has rolled out (observed its generation, with all
// replicas updated, ready and available), and prunes: it deletes the
// objects of the project (label stack.dev/project) that the manifests no
// longer hold. Claims are never pruned, as `stack down` keeps volumes;
// [Client.Delete] removes them.
//
// # Delete
//
// [Client.Delete] deletes every object of the project, claims included,
// then the namespace when stack made it (it carries the project's label),
// and waits until they are gone.
//
// Owns: talking to the API server (kubeconfig, apply, rollout, prune,
// delete, status).
//
// Must not import: daemon, runtime, network, image, api, cmd. Only cmd
// imports it, so client-go stays out of the daemon and the runtime.
package cluster

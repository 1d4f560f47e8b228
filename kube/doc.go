// Package kube turns a stack file into Kubernetes manifests: the same
// services, volumes, secrets and configs on a cluster instead of one
// machine. [Convert] takes the project spec loaded and planner selected
// and returns typed objects; it performs no network I/O (it reads the files
// the stack file names: env files, secrets, configs and read-only bind
// mounts). Package kube/cluster applies them.
//
// # What maps to what
//
//   - A service becomes a Deployment with spec.replicas from scale or
//     deploy.replicas, or a StatefulSet when it mounts a named volume that
//     no other selected service mounts (the StatefulSet rule): the volume
//     becomes a volumeClaimTemplate, so each replica keeps its own claim.
//     A volume several services mount is one PersistentVolumeClaim.
//   - Every service gets a Service named after it, on its container ports
//     (ports: and expose:), so other services reach it by name and port as
//     under Compose; a service without ports gets a headless Service, so
//     its name still resolves. Network aliases get Services of their own.
//     x-kubernetes.serviceType adds a <service>-published Service of that
//     type on the published ports; x-kubernetes.ingress adds an Ingress.
//   - environment and env_file go into a ConfigMap <service>-env read with
//     envFrom, except variables whose names say they hold a secret
//     (PASSWORD, SECRET, TOKEN, API_KEY, PRIVATE_KEY, CREDENTIAL), which go
//     into a Secret <service>-env. Top-level secrets become Secrets and
//     configs ConfigMaps, mounted as single files at their targets. A
//     secret is never put into a ConfigMap. The pod template's
//     stack.dev/config-hash annotation hashes that data, so a changed value
//     rolls the pods.
//   - The healthcheck becomes an exec readiness probe, and start_period a
//     startup probe. depends_on with condition service_healthy becomes an
//     init container (DefaultWaitImage) that waits until the dependency's
//     Service accepts a connection, which it does only once a pod of it is
//     ready.
//   - deploy.resources (and cpus, mem_limit, mem_reservation) become limits
//     and requests; user, cap_add, cap_drop, read_only and privileged the
//     container's securityContext; labels annotations (Compose labels are
//     free text); deploy.labels labels.
//   - A read-only bind mount of project files (./conf:/etc/app:ro) becomes
//     a ConfigMap with the files; tmpfs and shm_size memory-backed
//     emptyDirs; anonymous volumes emptyDirs.
//
// Keys no object can express are errors (bind mounts that are read-write
// or outside the project, build: without image:, volumes_from,
// network_mode service:, a user name instead of a uid) or, where leaving
// them out does not change what the service does, warnings; both carry the
// key's file:line.
//
// # x-kubernetes
//
// At the top level: namespace (default: the project name),
// storageClassName (for every claim) and volumes.NAME.{size, accessMode,
// storageClassName}. In a service: serviceType (ClusterIP, NodePort,
// LoadBalancer) and ingress.{host, path, port, className, tlsSecret}.
// Unknown keys are errors.
//
// Owns: the mapping from the stack-file model to Kubernetes objects, their
// labels (stack.dev/project, stack.dev/service) and x-kubernetes.
//
// Must not import: daemon, runtime, network, image, api, cmd, client-go
// (kube/cluster talks to clusters).
package kube

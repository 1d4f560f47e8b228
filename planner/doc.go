// Package planner computes what must change to turn the observed state of a
// stack into the desired one. It is made of pure functions: it performs no
// I/O, starts no processes and needs no Linux.
//
// # Pipeline
//
// A command runs the planner in three steps:
//
//  1. [Select] applies the Compose profile rules and the SERVICE... arguments
//     of the command to a [spec.Project] and returns a [Selection]: the
//     services the command acts on, checked for undefined and disabled
//     dependencies and for dependency cycles.
//  2. The daemon lists the containers that exist for the project (an
//     [Observer] does this over the runtime) as [Observed] values.
//  3. [Diff] compares the selection with the observed containers and returns
//     a [Plan]: typed [Action]s in the order they must run, which the daemon
//     applies and `stack plan` prints.
//
// # Dependency graph
//
// A service depends on another through depends_on, network_mode
// service:NAME, volumes_from NAME (not container:NAME) and links. As in
// Compose, the implicit references count as required dependencies with the
// condition service_started; links and network_mode also restart the
// dependent when the dependency is recreated. [Graph] orders services in
// waves: wave 0 holds the services without dependencies, and each service
// sits one wave after its latest dependency. Services of one wave may start in
// parallel; stopping walks the waves backwards.
//
// # Containers
//
// Each service runs as numbered instances named <project>-<service>-<n>
// (n from 1), or container_name when the service has exactly one. A
// container records the [ConfigHash] of the service it was created from; a
// different hash means the container is out of date and is recreated.
//
// Owns: service selection (profiles, explicit services, dependencies), the
// service dependency graph and cycle detection, container instance naming,
// config hashes, and the ordering of [Plan] actions.
//
// Must not import: network, runtime, image, daemon, api, cmd,
// internal/testutil (outside tests), golang.org/x/sys, os, os/exec or any
// package doing I/O.
package planner

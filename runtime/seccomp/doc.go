// Package seccomp turns an OCI seccomp profile into the classic BPF
// program the kernel runs on every system call of a container, and loads
// it.
//
// Owns: the profile's compilation ([Compile]), Docker's default profile for
// a spec ([Default], from github.com/moby/profiles/seccomp, which Docker
// itself maintains), Docker-format profile files ([LoadProfile]) and the
// seccomp(2) call ([Program.Load]).
// Must not import: any package of stack but internal/errdefs.
//
// # Why a compiler of our own
//
// runc compiles profiles with libseccomp through cgo. stack's binary is
// built without cgo: every container start runs it twice (shim and init)
// and dynamic linking costs each a millisecond or more. The pure-Go
// alternative, elastic/go-seccomp-bpf, assembles one architecture only,
// returns EPERM for every errno action, and its syscall tables are maps
// built at package initialisation (0.4-0.9 ms and 165 KB in every process
// of the binary). So the compiler here is small and self-contained: the
// syscall numbers come from golang.org/x/sys/unix (zsyscalls.go, generated
// by mktables into tables that need no initialisation), and the program
// is built with golang.org/x/net/bpf.
//
// # The program
//
// It checks the architecture first (the native one and its 32-bit
// compatibility ABI when the profile lists them; any other is killed, as
// libseccomp does), then finds the system call by binary search over
// ranges of numbers that share a verdict, so a call costs about a dozen
// instructions however long the profile is (libseccomp's default is a
// linear chain). A number with argument rules runs them in profile order:
// the first rule whose comparisons all hold gives the action; when none
// does, the default action applies. As in runc, a call newer than every
// call the profile names for that architecture gets ENOSYS rather than the
// default errno, so that libc falls back to an older call (clone3 to
// clone) instead of failing. On x86_64 the x32 ABI (numbers with bit 30
// set) gets ENOSYS: stack does not support it.
//
// Names the tables do not know for an architecture are skipped, as runc
// skips names libseccomp does not know; [Program.Unknown] lists names that
// no architecture of the program knows.
package seccomp

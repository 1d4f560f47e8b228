package seccomp

import (
	"github.com/opencontainers/runtime-spec/specs-go"
)

//go:generate go run ./mktables

// syscallTable is one architecture's system call numbers, sorted by name.
// It is a literal of constants, laid out by the linker: unlike a map it
// costs nothing at process start, which every re-exec of the binary (each
// container's shim and init) would pay.
type syscallTable []struct {
	name string
	nr   uint32
}

// lookup returns the number of the system call name.
func (t syscallTable) lookup(name string) (uint32, bool) {
	lo, hi := 0, len(t)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t[m].name < name {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(t) && t[lo].name == name {
		return t[lo].nr, true
	}
	return 0, false
}

// The audit architecture values of seccomp_data.arch (linux/audit.h).
const (
	auditArchX86_64  = 0xc000003e
	auditArchI386    = 0x40000003
	auditArchAARCH64 = 0xc00000b7
	auditArchARM     = 0x40000028
)

// x32Bit marks the system call numbers of the x32 ABI on x86_64.
const x32Bit = 0x40000000

// arch is one ABI a filter can admit.
type arch struct {
	name  specs.Arch
	audit uint32
	table syscallTable
}

var (
	archX86_64  = arch{specs.ArchX86_64, auditArchX86_64, tableX86_64}
	archX86     = arch{specs.ArchX86, auditArchI386, tableX86}
	archAARCH64 = arch{specs.ArchAARCH64, auditArchAARCH64, tableAARCH64}
	archARM     = arch{specs.ArchARM, auditArchARM, tableARM}
)

// abis returns the ABIs a process of goarch can call the kernel with: the
// native one first, then its 32-bit compatibility ABI.
func abis(goarch string) []arch {
	switch goarch {
	case "amd64":
		return []arch{archX86_64, archX86}
	case "386":
		return []arch{archX86}
	case "arm64":
		return []arch{archAARCH64, archARM}
	case "arm":
		return []arch{archARM}
	}
	return nil
}

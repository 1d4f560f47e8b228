package seccomp

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"

	"github.com/stack-dev/stack/internal/errdefs"
)

// call is one system call as the filter sees it (struct seccomp_data).
type call struct {
	nr   uint32
	arch uint32
	args [6]uint64
}

// run executes a compiled program on c in x/net/bpf's VM. The VM loads
// words big-endian where the kernel loads them in the host's order, so
// each 32-bit word the program reads is laid out for the VM to read the
// value the kernel would.
func run(t testing.TB, p *Program, c call) uint32 {
	t.Helper()
	var insts []bpf.Instruction
	for i := 0; i < p.Len(); i++ {
		b := p.Filter[8*i:]
		raw := bpf.RawInstruction{Op: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.LittleEndian.Uint32(b[4:])}
		insts = append(insts, raw.Disassemble())
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		t.Fatalf("the program does not verify: %v", err)
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[offNr:], c.nr)
	binary.BigEndian.PutUint32(data[offArch:], c.arch)
	for i, a := range c.args {
		binary.BigEndian.PutUint32(data[offArgs+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[offArgs+8*i+4:], uint32(a>>32))
	}
	out, err := vm.Run(data)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return uint32(out)
}

// evaluate is the compiler's contract written plainly (see the package
// documentation): what the kernel must answer for c under profile.
func evaluate(profile *specs.LinuxSeccomp, goarch string, c call) uint32 {
	var a *arch
	for _, x := range abis(goarch) {
		if x.audit == c.arch && (len(profile.Architectures) == 0 && x.name == abis(goarch)[0].name || slices.Contains(profile.Architectures, x.name)) {
			a = &x
			break
		}
	}
	if a == nil {
		return retKillProcess
	}
	if a.name == specs.ArchX86_64 && c.nr >= x32Bit {
		return retErrno | errnoENOSYS
	}
	def, _ := action(profile.DefaultAction, profile.DefaultErrnoRet)
	named, highest := false, uint32(0)
	var candidates []specs.LinuxSyscall
	for _, sc := range profile.Syscalls {
		for _, name := range sc.Names {
			nr, ok := a.table.lookup(name)
			if !ok {
				continue
			}
			named, highest = true, max(highest, nr)
			if nr == c.nr {
				candidates = append(candidates, sc)
			}
		}
	}
	for _, sc := range candidates {
		if holds(sc.Args, c.args) {
			ret, _ := action(sc.Action, sc.ErrnoRet)
			return ret
		}
	}
	if len(candidates) == 0 && named && c.nr > highest && def != retAllow && def != retLog {
		return retErrno | errnoENOSYS
	}
	return def
}

func holds(conds []specs.LinuxSeccompArg, args [6]uint64) bool {
	for _, a := range conds {
		v := args[a.Index]
		var ok bool
		switch a.Op {
		case specs.OpEqualTo:
			ok = v == a.Value
		case specs.OpNotEqual:
			ok = v != a.Value
		case specs.OpLessThan:
			ok = v < a.Value
		case specs.OpLessEqual:
			ok = v <= a.Value
		case specs.OpGreaterThan:
			ok = v > a.Value
		case specs.OpGreaterEqual:
			ok = v >= a.Value
		case specs.OpMaskedEqual:
			ok = v&a.Value == a.ValueTwo
		}
		if !ok {
			return false
		}
	}
	return true
}

func nr(t testing.TB, a arch, name string) uint32 {
	t.Helper()
	n, ok := a.table.lookup(name)
	if !ok {
		t.Fatalf("no %s on %s", name, a.name)
	}
	return n
}

func errno(e uint) *uint { return &e }

func TestCompileVerdicts(t *testing.T) {
	profile := &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "exit_group", "futex"}, Action: specs.ActAllow},
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x7e020000, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpEqualTo}}},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}}},
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 40, Op: specs.OpNotEqual}}},
			{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: errno(errnoENOSYS)},
			{Names: []string{"mkdir"}, Action: specs.ActKillProcess},
			{Names: []string{"no_such_call"}, Action: specs.ActAllow},
		},
	}
	p, err := Compile(profile, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Unknown, []string{"no_such_call"}) {
		t.Errorf("Unknown = %v, want [no_such_call]", p.Unknown)
	}
	x64, x86 := archX86_64, archX86
	eperm, enosys := uint32(retErrno|errnoEPERM), uint32(retErrno|errnoENOSYS)
	cases := []struct {
		name string
		c    call
		want uint32
	}{
		{"read", call{nr: nr(t, x64, "read"), arch: x64.audit}, retAllow},
		{"not listed", call{nr: nr(t, x64, "add_key"), arch: x64.audit}, eperm},
		{"thread clone", call{nr: nr(t, x64, "clone"), arch: x64.audit, args: [6]uint64{0x3d0f00}}, retAllow},
		{"clone CLONE_NEWUSER", call{nr: nr(t, x64, "clone"), arch: x64.audit, args: [6]uint64{0x10000000}}, eperm},
		{"clone high word", call{nr: nr(t, x64, "clone"), arch: x64.audit, args: [6]uint64{1 << 40}}, retAllow},
		{"personality 0", call{nr: nr(t, x64, "personality"), arch: x64.audit}, retAllow},
		{"personality query", call{nr: nr(t, x64, "personality"), arch: x64.audit, args: [6]uint64{0xffffffff}}, retAllow},
		{"personality other", call{nr: nr(t, x64, "personality"), arch: x64.audit, args: [6]uint64{8}}, eperm},
		{"socket inet", call{nr: nr(t, x64, "socket"), arch: x64.audit, args: [6]uint64{2}}, retAllow},
		{"socket vsock", call{nr: nr(t, x64, "socket"), arch: x64.audit, args: [6]uint64{40}}, eperm},
		{"clone3", call{nr: nr(t, x64, "clone3"), arch: x64.audit}, enosys},
		{"kill rule", call{nr: nr(t, x64, "mkdir"), arch: x64.audit}, retKillProcess},
		{"newer than the profile", call{nr: 1000, arch: x64.audit}, enosys},
		{"x32", call{nr: x32Bit | nr(t, x64, "read"), arch: x64.audit}, enosys},
		{"i386 read", call{nr: nr(t, x86, "read"), arch: x86.audit}, retAllow},
		{"i386 unlisted", call{nr: nr(t, x86, "add_key"), arch: x86.audit}, eperm},
		{"other arch", call{nr: 0, arch: auditArchAARCH64}, retKillProcess},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(t, p, tc.c); got != tc.want {
				t.Errorf("filter answers %#x, want %#x", got, tc.want)
			}
			if got := evaluate(profile, "amd64", tc.c); got != tc.want {
				t.Errorf("reference answers %#x, want %#x", got, tc.want)
			}
		})
	}
}

func TestCompileNativeOnlyWhenNoArchitectures(t *testing.T) {
	p, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, p, call{nr: 3, arch: auditArchI386}); got != retKillProcess {
		t.Errorf("i386 call under a profile naming no architecture: %#x, want kill", got)
	}
	if got := run(t, p, call{nr: 3, arch: auditArchX86_64}); got != retAllow {
		t.Errorf("native call under an allow-all profile: %#x, want allow", got)
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name    string
		profile specs.LinuxSeccomp
		want    error
	}{
		{"unknown default", specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_MAYBE"}, errdefs.ErrInvalidArgument},
		{"notify", specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, errdefs.ErrNotImplemented},
		{"listener", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock"}, errdefs.ErrNotImplemented},
		{"bad index", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, errdefs.ErrInvalidArgument},
		{"bad op", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_LIKE"}}}}}, errdefs.ErrInvalidArgument},
		{"errno range", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: errno(1 << 20)}, errdefs.ErrInvalidArgument},
		{"flag", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_NEW_LISTENER"}}, errdefs.ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(&tc.profile, "amd64")
			if !errors.Is(err, tc.want) {
				t.Errorf("Compile: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, "s390x"); !errors.Is(err, errdefs.ErrNotImplemented) {
		t.Errorf("Compile for s390x: %v, want not implemented", err)
	}
}

// randomProfile builds a profile from r: the property and fuzz tests
// compare the compiled filter with evaluate on it.
func randomProfile(r *rand.Rand, names []string) *specs.LinuxSeccomp {
	actions := []specs.LinuxSeccompAction{specs.ActAllow, specs.ActErrno, specs.ActKillProcess, specs.ActTrap, specs.ActLog, specs.ActKillThread}
	ops := []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual}
	values := []uint64{0, 1, 2, 40, 0xffffffff, 1 << 32, 1<<32 + 5, ^uint64(0), 0x7e020000}
	p := &specs.LinuxSeccomp{DefaultAction: actions[r.IntN(len(actions))]}
	if r.IntN(2) == 0 {
		p.DefaultErrnoRet = errno(uint(r.IntN(100)))
	}
	for _, a := range []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32} {
		if r.IntN(3) > 0 {
			p.Architectures = append(p.Architectures, a)
		}
	}
	for range r.IntN(12) {
		sc := specs.LinuxSyscall{Action: actions[r.IntN(len(actions))]}
		for range 1 + r.IntN(4) {
			sc.Names = append(sc.Names, names[r.IntN(len(names))])
		}
		if r.IntN(2) == 0 {
			sc.ErrnoRet = errno(uint(r.IntN(200)))
		}
		for range r.IntN(4) {
			sc.Args = append(sc.Args, specs.LinuxSeccompArg{
				Index: uint(r.IntN(3)), Op: ops[r.IntN(len(ops))],
				Value: values[r.IntN(len(values))], ValueTwo: values[r.IntN(len(values))],
			})
		}
		p.Syscalls = append(p.Syscalls, sc)
	}
	return p
}

// randomCall picks a call the profile is likely to have an opinion on.
func randomCall(r *rand.Rand, names []string) call {
	a := abis("amd64")[r.IntN(2)]
	c := call{arch: a.audit}
	if r.IntN(10) == 0 {
		c.arch = auditArchAARCH64
	}
	if n, ok := a.table.lookup(names[r.IntN(len(names))]); ok && r.IntN(4) > 0 {
		c.nr = n
	} else {
		c.nr = uint32(r.IntN(600))
	}
	if r.IntN(10) == 0 {
		c.nr |= x32Bit
	}
	values := []uint64{0, 1, 2, 3, 39, 40, 41, 0xffffffff, 1 << 32, 1<<32 + 5, ^uint64(0), 0x10000000}
	for i := range c.args {
		c.args[i] = values[r.IntN(len(values))]
	}
	return c
}

var testNames = []string{"read", "write", "open", "openat", "clone", "socket", "personality", "mkdir", "unshare", "keyctl", "exit_group", "arch_prctl", "socketcall", "bpf", "clone3"}

func TestCompileMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		profile := randomProfile(r, testNames)
		p, err := Compile(profile, "amd64")
		if err != nil {
			t.Fatalf("profile %d: %v", i, err)
		}
		for range 50 {
			c := randomCall(r, testNames)
			if got, want := run(t, p, c), evaluate(profile, "amd64", c); got != want {
				t.Fatalf("profile %d %+v, call %+v: filter %#x, reference %#x", i, profile, c, got, want)
			}
		}
	}
}

func FuzzCompile(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(7), uint64(99))
	f.Fuzz(func(t *testing.T, s1, s2 uint64) {
		r := rand.New(rand.NewPCG(s1, s2))
		profile := randomProfile(r, testNames)
		p, err := Compile(profile, "amd64")
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			c := randomCall(r, testNames)
			if got, want := run(t, p, c), evaluate(profile, "amd64", c); got != want {
				t.Fatalf("call %+v: filter %#x, reference %#x", c, got, want)
			}
		}
	})
}

package build

import "testing"

// FuzzParseDockerfile: any input parses or fails with an error, never a
// panic, and an error names the file.
func FuzzParseDockerfile(f *testing.F) {
	for _, s := range []string{
		"FROM busybox\nRUN echo hi\n",
		"ARG V=1\nFROM busybox:${V} AS a\nCOPY --from=a /x /y\nCMD [\"sh\"]\n",
		"# escape=`\nFROM x\nRUN a `\n b\n",
		"FROM x\nHEALTHCHECK --interval=1s CMD true\nONBUILD RUN x\n",
		"FROM x\nRUN <<EOF\nhi\nEOF\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		df, err := parseDockerfile("Dockerfile", src)
		if err == nil && len(df.stages) == 0 {
			t.Fatal("no error and no stage")
		}
	})
}

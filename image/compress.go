package image

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/stack-dev/stack/internal/errdefs"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompress sniffs the compression of r (gzip, zstd or none) and returns
// the uncompressed stream and the layer media type that matches it.
func decompress(r io.Reader) (io.ReadCloser, string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, "", err
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("gzip: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return zr, MediaTypeLayerGzip, nil
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("zstd: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return zstdReadCloser{zr}, MediaTypeLayerZstd, nil
	default:
		return io.NopCloser(br), MediaTypeLayer, nil
	}
}

type zstdReadCloser struct{ *zstd.Decoder }

func (z zstdReadCloser) Close() error { z.Decoder.Close(); return nil }

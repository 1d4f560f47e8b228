package image_test

import (
	"testing"

	"github.com/stack-dev/stack/image"
	"github.com/stack-dev/stack/image/imagetest"
)

func TestLocalStore(t *testing.T) {
	imagetest.StoreSuite(t, func(t *testing.T) image.Store {
		s, err := image.NewStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

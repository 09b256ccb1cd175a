package mysqld

import (
	"io"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if err := SetEngineLog(io.Discard, "warn"); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

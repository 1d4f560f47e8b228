// Command udpecho is a UDP echo server and client for the end-to-end
// tests: busybox's nc has no UDP. `udpecho serve :PORT` echoes datagrams;
// `udpecho send HOST:PORT MSG` prints the reply.
package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: udpecho serve :PORT | send HOST:PORT MSG")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		pc, err := net.ListenPacket("udp", os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		buf := make([]byte, 2048)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				os.Exit(1)
			}
			pc.WriteTo(buf[:n], addr)
		}
	case "send":
		c, err := net.Dial("udp", os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		c.SetDeadline(time.Now().Add(time.Second))
		c.Write([]byte(os.Args[3]))
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(string(buf[:n]))
	}
}

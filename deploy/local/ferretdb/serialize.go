package main

// FerretDB v1 on SQLite applies an update as read, modify in memory, write — without holding a
// lock across the three — so two updates of one document at the same moment can lose one of
// them, and an optimistic "version == n" guard can let both through. MongoDB does neither.
// This proxy, in front of the embedded FerretDB, runs every write command alone: a write command
// is forwarded and its reply awaited while a process-wide lock is held; reads pass freely.
// SQLite takes one writer at a time anyway, so little throughput is lost.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
)

const (
	opMsg        = 2013
	maxMessage   = 48 * 1024 * 1024
	flagMoreNext = 1 << 1 // OP_MSG moreToCome
)

// writeCommands change data or metadata; each is run alone.
var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true, "findAndModify": true, "findandmodify": true,
	"createIndexes": true, "dropIndexes": true, "drop": true, "dropDatabase": true,
	"create": true, "renameCollection": true,
}

type serializer struct {
	backend string // FerretDB's own listener (unix socket)
	logger  *slog.Logger
	writes  sync.Mutex
}

func (s *serializer) serve(ln net.Listener) error {
	for {
		client, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go s.handle(client)
	}
}

func (s *serializer) handle(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("unix", s.backend)
	if err != nil {
		s.logger.Error("proxy: cannot reach FerretDB", slog.String("error", err.Error()))
		return
	}
	defer server.Close()
	for {
		request, err := readMessage(client)
		if err != nil {
			return // the client went away
		}
		write, moreToCome := inspect(request)
		if write {
			s.writes.Lock()
		}
		err = s.exchange(client, server, request, moreToCome)
		if write {
			s.writes.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// exchange forwards one request and relays its replies (several while the server says more).
func (s *serializer) exchange(client, server net.Conn, request []byte, moreToCome bool) error {
	if _, err := server.Write(request); err != nil {
		return err
	}
	if moreToCome {
		return nil // an unacknowledged write: no reply comes
	}
	for {
		reply, err := readMessage(server)
		if err != nil {
			return err
		}
		if _, err = client.Write(reply); err != nil {
			return err
		}
		if _, more := inspect(reply); !more {
			return nil
		}
	}
}

func readMessage(r io.Reader) ([]byte, error) {
	var header [16]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	length := int(binary.LittleEndian.Uint32(header[0:4]))
	if length < 16 || length > maxMessage {
		return nil, fmt.Errorf("bad message length %d", length)
	}
	message := make([]byte, length)
	copy(message, header[:])
	if _, err := io.ReadFull(r, message[16:]); err != nil {
		return nil, err
	}
	return message, nil
}

// inspect says whether an OP_MSG carries a write command and whether its moreToCome flag is set.
func inspect(message []byte) (write, moreToCome bool) {
	if len(message) < 21 || binary.LittleEndian.Uint32(message[12:16]) != opMsg {
		return false, false
	}
	flags := binary.LittleEndian.Uint32(message[16:20])
	moreToCome = flags&flagMoreNext != 0
	body := message[20:]
	for len(body) > 5 {
		kind := body[0]
		size := int(binary.LittleEndian.Uint32(body[1:5]))
		if kind == 1 { // a document sequence: int32 size, identifier, documents
			if size < 4 || size+1 > len(body) {
				return false, moreToCome
			}
			body = body[1+size:]
			continue
		}
		// kind 0: the command document; its first key is the command's name.
		doc := body[1:]
		if size < 5 || size > len(doc) || doc[4] == 0 {
			return false, moreToCome
		}
		name := doc[5:]
		end := 0
		for end < len(name) && name[end] != 0 {
			end++
		}
		return writeCommands[string(name[:end])], moreToCome
	}
	return false, moreToCome
}

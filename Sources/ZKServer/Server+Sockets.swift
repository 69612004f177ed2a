/// Socket IO of the server shell: accept, read (framing), write, close, and carrying out the
/// replica's effects.
import ZKCore
import ZKProtocol
import ZKReplica
import ZKPosix

extension Server {
    func acceptConnections() {
        guard let listener else { return }
        while true {
            let accepted: (fd: Int32, remote: SocketAddress)?
            do {
                accepted = try listener.accept()
            } catch {
                // Out of descriptors (EMFILE) and the like: the listener stays readable, so stop
                // watching it until the next tick instead of spinning.
                logger.warn("Error accepting a connection: \(error); pausing accepts")
                try? loop.modify(listener.fd, interest: [], token: Server.listenerToken)
                acceptsPaused = true
                return
            }
            guard let (fd, remote) = accepted else { return }
            admit(fd, remote)
        }
    }

    private func admit(_ fd: Int32, _ remote: SocketAddress) {
        let perIP = connectionsPerIP[remote.ip, default: 0]
        if config.maxClientCnxns > 0 && perIP >= config.maxClientCnxns {
            logger.warn("Too many connections from \(remote.javaDescription) - max is \(config.maxClientCnxns)")
            Socket.close(fd)
            replica.handle(.connectionRejected, now: Server.clock())
            return
        }
        if sockets.count >= config.limits.connectionsMax || (config.maxCnxns > 0 && sockets.count >= config.maxCnxns) {
            logger.warn("Too many connections - max is \(config.maxCnxns > 0 ? config.maxCnxns : config.limits.connectionsMax)")
            Socket.close(fd)
            replica.handle(.connectionRejected, now: Server.clock())
            return
        }
        let id = ConnectionID(nextConnectionID)
        nextConnectionID += 1
        let socket = ClientSocket(fd: fd, id: id, remote: remote, frameSizeBytesMax: config.juteMaxBufferBytes)
        do {
            try loop.register(fd, interest: readingPaused ? [] : .read, token: id.rawValue)
        } catch {
            logger.warn("Cannot watch connection from \(remote.javaDescription): \(error)")
            Socket.close(fd)
            return
        }
        socket.interest = readingPaused ? [] : .read
        sockets[id.rawValue] = socket
        connectionsPerIP[remote.ip] = perIP + 1
        logger.debug("Accepted socket connection from \(remote.javaDescription)")
        replica.handle(.connected(id, RemoteAddress(ip: remote.ip, port: Int(remote.port), javaDescription: remote.javaDescription)), now: Server.clock())
    }

    /// Reads what is available (bounded per turn so one client cannot starve the others) and
    /// feeds each complete frame to the replica.
    func read(_ socket: ClientSocket) {
        var turns = 0
        while turns < config.limits.readsPerSocketPerTurnMax && !socket.closeAfterFlush && !isOverOutputLimit(socket) {
            turns += 1
            let count: Int
            do {
                count = try readBuffer.withUnsafeMutableBytes { raw in try Socket.readSome(socket.fd, into: raw) }
            } catch SyscallError.wouldBlock {
                return
            } catch {
                logger.debug("Connection \(socket.remote.javaDescription) failed: \(error)")
                drop(socket)
                return
            }
            if count == 0 {
                logger.debug("Connection closed by client \(socket.remote.javaDescription)")
                drop(socket)
                return
            }
            readBuffer.withUnsafeBytes { socket.decoder.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            guard deliverFrames(socket) else { return }
            if count < readBuffer.count { return }
        }
    }

    /// A connection whose replies are not being read: no more of its frames are taken (its read
    /// interest is off) until its output drains below `bufferedOutputBytesPerConnectionMax`.
    func isOverOutputLimit(_ socket: ClientSocket) -> Bool {
        socket.output.byteCount >= config.limits.bufferedOutputBytesPerConnectionMax
    }

    /// Returns false if the connection was closed for a framing error. Stops early, leaving frames in
    /// the decoder, when the replies queued for the connection pass its output limit: one read can
    /// hold a thousand pipelined requests whose replies are hundreds of megabytes.
    private func deliverFrames(_ socket: ClientSocket) -> Bool {
        while !socket.closeAfterFlush {
            if replica.pendingSendBytes >= config.limits.bufferedOutputBytesPerConnectionMax {
                drainEffects()
                guard sockets[socket.id.rawValue] != nil else { return false }
            }
            if isOverOutputLimit(socket) {
                setInterest(socket)
                return true
            }
            let event: FrameEvent?
            do {
                event = try socket.decoder.next()
            } catch {
                logger.warn("Closing connection to \(socket.remote.javaDescription): \(error) (jute.maxbuffer is \(config.juteMaxBufferBytes))")
                drop(socket)
                return false
            }
            guard let event else { return true }
            switch event {
            case .frame(let bytes):
                replica.handle(.frame(socket.id, bytes), now: Server.clock())
            case .fourLetterWord(let word, let argument):
                replica.handle(.fourLetterWord(socket.id, word, argument: argument, host: hostSnapshot(facts: hostFacts)), now: Server.clock())
            case .telnetClose:
                drop(socket)
                return false
            }
        }
        return true
    }

    func write(_ socket: ClientSocket) {
        do {
            let done = try socket.flush()
            if done && socket.closeAfterFlush {
                drop(socket)
                return
            }
        } catch {
            logger.debug("Write to \(socket.remote.javaDescription) failed: \(error)")
            drop(socket)
            return
        }
        setInterest(socket)
    }

    /// After a write from the event loop: frames held back while the output was over its limit are
    /// taken now that it has drained.
    func resumeFrames(_ socket: ClientSocket) {
        guard sockets[socket.id.rawValue] != nil, !socket.closeAfterFlush, !isOverOutputLimit(socket),
              socket.decoder.bufferedBytes > 0 else { return }
        if deliverFrames(socket) { setInterest(socket) }
    }

    /// Connections closing after their last replies whose client does not read them: dropped once
    /// `closeFlushTimeoutMs` has passed, with what is left unsent (Apache closes at once).
    func dropStalledCloses(nowMs: Int64) {
        for socket in Array(sockets.values) where socket.closeAfterFlush {
            guard let since = socket.closeRequestedMs else {
                socket.closeRequestedMs = nowMs
                continue
            }
            if nowMs - since >= Server.closeFlushTimeoutMs {
                logger.info("Closing connection to \(socket.remote.javaDescription) with \(socket.output.byteCount) bytes it did not read")
                drop(socket)
            }
        }
    }

    /// Closes a socket and tells the replica.
    func drop(_ socket: ClientSocket) {
        guard sockets.removeValue(forKey: socket.id.rawValue) != nil else { return }
        try? loop.unregister(socket.fd)
        Socket.close(socket.fd)
        if let n = connectionsPerIP[socket.remote.ip] {
            connectionsPerIP[socket.remote.ip] = n > 1 ? n - 1 : nil
        }
        replica.handle(.disconnected(socket.id), now: Server.clock())
    }

    /// Carries out the replica's `Ready` until it has nothing more to say: storage commands to
    /// their lanes first, then sends and closes, then the sockets written to are flushed.
    func drainEffects() {
        while true {
            replica.takeReady(into: &ready)
            if ready.isEmpty {
                peers?.flush()
                return
            }
            persist(ready.persist)
            var touched: [ClientSocket] = []
            for effect in ready.output {
                switch effect {
                case .send(let id, let bytes):
                    guard let socket = sockets[id.rawValue] else { continue }
                    if socket.output.isEmpty { touched.append(socket) }
                    socket.enqueue(bytes)
                case .close(let id):
                    guard let socket = sockets[id.rawValue] else { continue }
                    socket.closeAfterFlush = true
                    touched.append(socket)
                case .persist(let command):
                    invariant(false, "storage command \(command.lane) in the output of a Ready")
                case .log(let level, let source, let line, let message):
                    logger.log(level, message, source: source, line: line)
                case .peer(let output):
                    carryOut(output)
                }
            }
            for socket in touched where sockets[socket.id.rawValue] != nil { write(socket) }
            peers?.flush()
        }
    }

    /// Read interest off while the replica is throttled or the socket's output is over its limit;
    /// write interest on while output is queued.
    func updateReadInterest() {
        let overLimit = replica.isThrottled
        if overLimit != readingPaused {
            readingPaused = overLimit
            if overLimit { logger.debug("Throttling: \(replica.outstandingRequests) outstanding requests, \(replica.txnsInFlight) txns in flight") }
            for socket in sockets.values { setInterest(socket) }
        }
    }

    func setInterest(_ socket: ClientSocket) {
        var interest: EventLoop.Interest = []
        if !readingPaused && !socket.closeAfterFlush && socket.output.byteCount < config.limits.bufferedOutputBytesPerConnectionMax {
            interest.insert(.read)
        }
        if !socket.output.isEmpty { interest.insert(.write) }
        guard interest != socket.interest else { return }
        socket.interest = interest
        try? loop.modify(socket.fd, interest: interest, token: socket.id.rawValue)
    }

    /// Stops accepting, closes every connection (their sessions stay, as in Apache), exits.
    func shutdown() {
        listener?.close()
        listener = nil
        for socket in Array(sockets.values) {
            _ = try? socket.flush()
            drop(socket)
        }
        drainEffects()
        peers?.stop()
        admin?.stop()
        metricsServer?.stop()
        logLane?.stop()
        logLane = nil
        snapshotLane?.stop()
        snapshotLane = nil
        hostFacts.stop()
        logger.info("shutdown of server complete")
    }
}

// Directory and file helpers, each test in its own mkdtemp directory, removed afterwards.
import Testing
import ZKPosix

/// Runs `body` with a fresh temporary directory and removes it afterwards.
func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    let directory = try FileSystem.makeTemporaryDirectory(prefix: "zkposix")
    defer { try? FileSystem.removeRecursively(directory) }
    try body(directory)
}

@Suite struct FileSystemTests {
    @Test func directoriesAreCreatedAndInspected() throws {
        try withTemporaryDirectory { root in
            #expect(FileSystem.isDirectory(root))
            #expect(FileSystem.isWritableDirectory(root))
            let nested = root + "/version-2/a/b"
            try FileSystem.makeDirectories(nested)
            try FileSystem.makeDirectories(nested)  // again: no error
            #expect(FileSystem.isDirectory(nested))
            #expect(FileSystem.fileExists(nested))
            #expect(!FileSystem.fileExists(root + "/missing"))
            #expect(!FileSystem.isDirectory(root + "/missing"))
            #expect(FileSystem.absolutePath(root + "/version-2/./a/../a/b") == FileSystem.absolutePath(nested))
            #expect(FileSystem.absolutePath("/no/such/path") == "/no/such/path")
            #expect(FileSystem.absolutePath("relative").hasSuffix("/relative"))
        }
    }

    @Test func listingAndSizes() throws {
        try withTemporaryDirectory { root in
            try FileSystem.makeDirectories(root + "/sub/deeper")
            try FileSystem.writeFileAtomically(root + "/log.2", bytes: [UInt8](repeating: 1, count: 100))
            try FileSystem.writeFileAtomically(root + "/log.1", bytes: [UInt8](repeating: 2, count: 20))
            try FileSystem.writeFileAtomically(root + "/sub/deeper/snap", bytes: [3, 3, 3])
            #expect(try FileSystem.listDirectory(root) == ["log.1", "log.2", "sub"])
            #expect(try FileSystem.directorySizeBytes(root) == 123)
            #expect(try FileSystem.readFile(root + "/sub/deeper/snap") == [3, 3, 3])
            try FileSystem.rename(root + "/log.1", to: root + "/log.3")
            try FileSystem.removeFile(root + "/log.2")
            #expect(try FileSystem.listDirectory(root) == ["log.3", "sub"])
            #expect(throws: SyscallError.notFound) { try FileSystem.readFile(root + "/log.2") }
            #expect(throws: SyscallError.notFound) { try FileSystem.listDirectory(root + "/none") }
        }
    }

    @Test func atomicReplaceLeavesNoTemporary() throws {
        try withTemporaryDirectory { root in
            let path = root + "/acceptedEpoch"
            try FileSystem.writeFileAtomically(path, bytes: Array("1".utf8))
            try FileSystem.writeFileAtomically(path, bytes: Array("2".utf8))
            #expect(try FileSystem.readFile(path) == Array("2".utf8))
            #expect(try FileSystem.listDirectory(root) == ["acceptedEpoch"])
        }
    }

    @Test func parentDirectories() {
        #expect(FileSystem.parentDirectory(of: "a/b/c") == "a/b")
        #expect(FileSystem.parentDirectory(of: "a/b/") == "a")
        #expect(FileSystem.parentDirectory(of: "/a") == "/")
        #expect(FileSystem.parentDirectory(of: "a") == ".")
        #expect(FileSystem.parentDirectory(of: "/") == "/")
    }

    @Test func readsProcFiles() throws {
        let status = try FileSystem.readFile("/proc/self/status")
        #expect(String(decoding: status, as: UTF8.self).hasPrefix("Name:"))
    }

    @Test func fileAppendPositionalWriteTruncate() throws {
        try withTemporaryDirectory { root in
            let path = root + "/log.100000001"
            let file = try PosixFile(path: path, options: [.append, .create])
            try file.write([1, 2, 3])
            try file.write([4, 5])
            try file.synchronizeData()
            #expect(try file.size() == 5)
            file.close()

            let random = try PosixFile(path: path, options: [.read, .write])
            defer { random.close() }
            try random.write([9, 9], at: 1)
            #expect(try random.read(count: 5, at: 0) == [1, 9, 9, 4, 5])
            #expect(try random.read(count: 10, at: 3) == [4, 5])  // short at end of file
            try random.truncate(to: 8)
            #expect(try random.read(count: 8, at: 0) == [1, 9, 9, 4, 5, 0, 0, 0])
            try random.truncate(to: 2)
            try random.synchronize()
            #expect(try FileSystem.readFile(path) == [1, 9])
            #expect(throws: SyscallError.other(errno: 17 /* EEXIST */, call: "open(\(path))")) {
                try PosixFile(path: path, options: [.write, .create, .exclusive])
            }
        }
    }
}

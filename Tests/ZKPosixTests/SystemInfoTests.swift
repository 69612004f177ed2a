// Host and process facts for envi/mntr. Values depend on the machine, so only their shape is checked.
import Glibc
import Testing
import ZKPosix

@Suite struct SystemInfoTests {
    @Test func hostAndUser() throws {
        #expect(!SystemInfo.hostName().isEmpty)
        #expect(!SystemInfo.canonicalHostName().isEmpty)
        if let home = SystemInfo.homeDirectory() { #expect(home.hasPrefix("/")) }
        if let user = SystemInfo.userName() { #expect(!user.isEmpty) }
        #expect(try SystemInfo.currentDirectory().hasPrefix("/"))
    }

    @Test func operatingSystem() {
        let system = SystemInfo.operatingSystem()
        #expect(system.name == "Linux")
        #expect(!system.version.isEmpty)
        #expect(!system.architecture.isEmpty)
        #if arch(x86_64)
        #expect(system.javaArchitecture == "amd64")
        #endif
    }

    @Test func processResources() throws {
        #expect(SystemInfo.processID() == getpid())
        #expect(SystemInfo.processorCount() >= 1)
        let open = try SystemInfo.openFileDescriptorCount()
        #expect(open >= 3)  // at least stdin, stdout, stderr
        #expect(SystemInfo.maxFileDescriptorCount() >= Int64(open))
        #expect(try SystemInfo.residentMemoryBytes() > 0)
        let cpu = SystemInfo.cpuTime()
        #expect(cpu.userMicroseconds >= 0 && cpu.systemMicroseconds >= 0)
        #expect(cpu.totalMicroseconds == cpu.userMicroseconds + cpu.systemMicroseconds)
    }
}

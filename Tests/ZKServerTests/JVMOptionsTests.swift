import Testing
import ZKCore
@testable import ZKServer

/// `zk-server -Dzookeeper.key=value -Xmx512M zoo.cfg`: what `zkServer.sh` scripts pass a JVM.
@Suite struct JVMOptionsTests {
    private func options(_ arguments: [String]) throws -> JVMOptions {
        try JVMOptions.parse(arguments).get()
    }

    @Test func theConfigurationPathIsTheFirstWordWithoutADash() throws {
        let parsed = try options(["-Xmx512M", "-Xms512M", "/opt/zookeeper/conf/zoo.cfg"])
        #expect(parsed.configPath == "/opt/zookeeper/conf/zoo.cfg")
        #expect(parsed.properties.isEmpty)
        #expect(parsed.notices.count == 2)
        #expect(parsed.notices[0].hasPrefix("ignoring the JVM option -Xmx512M: zk-server is not a JVM"))
        #expect(try options([]).configPath == nil)
    }

    @Test func wordsAfterThePathAreRefused() {
        guard case .failure(let errors) = JVMOptions.parse(["zoo.cfg", "extra"]) else {
            Issue.record("a second path was accepted")
            return
        }
        #expect(errors.messages == ["command line: unexpected argument 'extra' after the configuration path"])
    }

    @Test func configurationPropertiesBecomeEntriesAndOthersAreIgnored() throws {
        let parsed = try options(["-Dzookeeper.snapCount=5000", "-Djute.maxbuffer=2097152",
                                  "-Dzookeeper.log.dir=/var/log/zookeeper", "-Dcom.sun.management.jmxremote", "zoo.cfg"])
        #expect(parsed.properties == [PropertyEntry(line: 1, key: "zookeeper.snapCount", value: "5000"),
                                      PropertyEntry(line: 2, key: "jute.maxbuffer", value: "2097152")])
        #expect(parsed.notices == ["ignoring the system property zookeeper.log.dir (not used by zk-server)",
                                   "ignoring the system property com.sun.management.jmxremote (not used by zk-server)"])
    }

    @Test func theStricterOfRootLoggerAndConsoleThresholdWins() throws {
        let parsed = try options(["-Dzookeeper.root.logger=INFO,CONSOLE", "-Dzookeeper.console.threshold=warn"])
        #expect(parsed.properties == [PropertyEntry(line: 2, key: "logLevel", value: "WARN")])
        let config = try ConfigParser.parse("dataDir=/tmp/x\n", source: "zoo.cfg", commandLine: parsed).get().config
        #expect(config.logLevel == .warn)
    }

    @Test func zooCfgOverridesTheCommandLine() throws {
        let parsed = try options(["-Dzookeeper.snapCount=5000", "-Dzookeeper.4lw.commands.whitelist=*"])
        let config = try ConfigParser.parse("dataDir=/tmp/x\nsnapCount=7000\n", source: "zoo.cfg", commandLine: parsed)
            .get().config
        #expect(config.snapCount == 7000)
        #expect(config.fourLetterWordWhitelist == .all)
    }

    @Test func aBadValueOnTheCommandLineNamesIt() throws {
        let parsed = try options(["-Dzookeeper.console.threshold=LOUD"])
        guard case .failure(let errors) = ConfigParser.parse("dataDir=/tmp/x\n", source: "zoo.cfg", commandLine: parsed) else {
            Issue.record("an unknown level was accepted")
            return
        }
        #expect(errors.messages.first?.hasPrefix("command line:1: invalid value for logLevel: 'LOUD'") == true)
    }

    @Test func theEmbeddedDefaultsTakeCommandLineProperties() throws {
        let parsed = try options(["-Dzookeeper.console.threshold=ERROR"])
        let config = try ConfigParser.apply(parsed, to: ServerConfig.embeddedDefaults(workingDirectory: "/tmp")).get().config
        #expect(config.logLevel == .error)
        #expect(config.clientPort == 2181)
    }
}

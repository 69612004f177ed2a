import ZKServer
import Glibc

exit(ServerMain.run(arguments: Array(CommandLine.arguments.dropFirst())))

import Engine
import Foundation

// Everything tracemark writes — keys, vaults, specs, transcripts, the service's directory — is
// its owner's alone: files 0600, folders 0700.
umask(0o077)
StartupEnvironment.settle()
Tracemark.main()

import Engine

BLASKernel.useNativeKernels()
Tracemark.main()

from carepg.cli import main

main()

from carepg.main import main

main()

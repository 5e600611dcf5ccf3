from rbmap.cli import main

main()

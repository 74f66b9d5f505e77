from cfgan.cli import main

main()

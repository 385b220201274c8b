from asdbench.cli import main

main()

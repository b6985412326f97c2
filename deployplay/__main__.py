from deployplay.cli import main

main()

from motion_pg.cli import main

main(prog_name="motion-pg")

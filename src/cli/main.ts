process.stdout.write("cli placeholder\n");
